//! Items by key, in the least memory: a sorted vector (what a stored state loads into — a hash
//! table of a million entries keeps up to as many spare buckets) and a hash map of the items added
//! since, merged into the vector whenever it outgrows a quarter of it.

use std::collections::HashMap;

use super::state::ItemKey;

/// Added items merged into the sorted part once they are this many, or a quarter of it.
const MERGE_AT: usize = 1 << 16;

#[derive(Debug, Default, Clone)]
pub(super) struct ItemIndex<V> {
    sorted: Vec<(ItemKey, V)>,
    added: HashMap<ItemKey, V>,
}

impl<V: Default + Copy> ItemIndex<V> {
    pub(super) fn len(&self) -> usize {
        self.sorted.len() + self.added.len()
    }

    fn position(&self, key: &ItemKey) -> Result<usize, usize> {
        self.sorted.binary_search_by(|(k, _)| k.cmp(key))
    }

    pub(super) fn get(&self, key: &ItemKey) -> Option<&V> {
        match self.position(key) {
            Ok(i) => Some(&self.sorted[i].1),
            Err(_) => self.added.get(key),
        }
    }

    pub(super) fn get_mut(&mut self, key: &ItemKey) -> Option<&mut V> {
        match self.position(key) {
            Ok(i) => Some(&mut self.sorted[i].1),
            Err(_) => self.added.get_mut(key),
        }
    }

    /// The item's entry, a default one added if it has none.
    pub(super) fn entry(&mut self, key: &ItemKey) -> &mut V {
        if self.added.len() >= MERGE_AT.max(self.sorted.len() / 4) {
            self.merge();
        }
        match self.position(key) {
            Ok(i) => &mut self.sorted[i].1,
            Err(_) => self.added.entry(key.clone()).or_default(),
        }
    }

    /// Appends an item read in key order (a stored state); out of order it is added.
    pub(super) fn push(&mut self, key: ItemKey, value: V) {
        if self.sorted.last().is_none_or(|(last, _)| *last < key) {
            self.sorted.push((key, value));
        } else {
            self.added.insert(key, value);
        }
    }

    pub(super) fn reserve(&mut self, n: usize) {
        self.sorted.reserve_exact(n);
    }

    fn merge(&mut self) {
        let mut added: Vec<(ItemKey, V)> = self.added.drain().collect();
        added.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        self.sorted.reserve_exact(added.len());
        self.sorted.extend(added);
        // Two sorted runs: the stable sort merges them in one pass.
        self.sorted.sort_by(|a, b| a.0.cmp(&b.0));
        self.added.shrink_to_fit();
    }

    /// Every item, in key order.
    pub(super) fn iter(&self) -> impl Iterator<Item = (&ItemKey, &V)> {
        let mut added: Vec<(&ItemKey, &V)> = self.added.iter().collect();
        added.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let mut a = self.sorted.iter().map(|(k, v)| (k, v)).peekable();
        let mut b = added.into_iter().peekable();
        std::iter::from_fn(move || match (a.peek(), b.peek()) {
            (Some(x), Some(y)) if x.0 < y.0 => a.next(),
            (Some(_), Some(_)) | (None, Some(_)) => b.next(),
            (Some(_), None) => a.next(),
            (None, None) => None,
        })
    }
}

impl<V: Default + Copy + PartialEq> PartialEq for ItemIndex<V> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_items_wherever_they_are_and_lists_them_in_order() {
        let mut index: ItemIndex<u32> = ItemIndex::default();
        for k in ["b", "d"] {
            index.push(ItemKey::new(k, "s"), 1);
        }
        index.push(ItemKey::new("a", "s"), 2); // out of order: added
        *index.entry(&ItemKey::new("c", "s")) = 3;
        *index.entry(&ItemKey::new("b", "s")) += 10;
        assert_eq!(index.get(&ItemKey::new("b", "s")), Some(&11));
        assert_eq!(index.get(&ItemKey::new("z", "s")), None);
        let order: Vec<(String, u32)> = index.iter().map(|(k, v)| (k.id(), *v)).collect();
        assert_eq!(
            order,
            vec![("PK=a SK=s".into(), 2), ("PK=b SK=s".into(), 11), ("PK=c SK=s".into(), 3), ("PK=d SK=s".into(), 1)]
        );
        let before = index.clone();
        index.merge();
        assert_eq!(index, before);
        assert!(index.added.is_empty() && index.sorted.len() == 4);
    }

    #[test]
    fn many_additions_are_merged_and_stay_findable() {
        let mut index: ItemIndex<u64> = ItemIndex::default();
        for i in (0..200_000u64).rev() {
            *index.entry(&ItemKey::new(&format!("k{i}"), "s")) = i;
        }
        assert_eq!(index.len(), 200_000);
        assert!(index.added.len() < MERGE_AT.max(index.sorted.len() / 4) + 1);
        assert!((0..200_000u64).step_by(997).all(|i| index.get(&ItemKey::new(&format!("k{i}"), "s")) == Some(&i)));
    }
}
