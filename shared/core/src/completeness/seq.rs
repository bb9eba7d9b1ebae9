//! A stream sequence number in 17 bytes that compare as the numbers do: a state of a million
//! items keeps one per item.

/// A DynamoDB Streams sequence number (decimal, 21 to 40 digits per the Streams API reference),
/// as a big-endian 136-bit number: `[hi, lo…]` with value `hi · 10^38 + lo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct SequenceKey([u8; 17]);

const LO_DIGITS: usize = 38;

impl SequenceKey {
    /// Parses a sequence number; `None` when it is not 1 to 40 decimal digits.
    pub fn parse(s: &str) -> Option<Self> {
        if s.is_empty() || s.len() > LO_DIGITS + 2 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let split = s.len().saturating_sub(LO_DIGITS);
        let hi: u8 = if split == 0 { 0 } else { s[..split].parse().ok()? };
        let lo: u128 = s[split..].parse().ok()?;
        let mut out = [0u8; 17];
        out[0] = hi;
        out[1..].copy_from_slice(&lo.to_be_bytes());
        Some(SequenceKey(out))
    }

    /// The decimal form (no leading zeros).
    pub fn to_decimal(self) -> String {
        let lo = u128::from_be_bytes(self.0[1..].try_into().expect("16 bytes"));
        match self.0[0] {
            0 => lo.to_string(),
            hi => format!("{hi}{lo:038}"),
        }
    }
}

impl serde::Serialize for SequenceKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_decimal())
    }
}

impl<'de> serde::Deserialize<'de> for SequenceKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <&str>::deserialize(d)?;
        SequenceKey::parse(text).ok_or_else(|| serde::de::Error::custom(format!("`{text}` is not a sequence number")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compares_as_the_numbers_do_up_to_forty_digits() {
        let nums = [
            "1",
            "000000000000000000123",
            "4421584500000000017450439091",
            "99999999999999999999999999999999999999",
            "100000000000000000000000000000000000000",
            "9999999999999999999999999999999999999999",
        ];
        let keys: Vec<_> = nums.iter().map(|n| SequenceKey::parse(n).unwrap()).collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "{keys:?}");
        assert_eq!(keys[1].to_decimal(), "123");
        assert_eq!(keys[5].to_decimal(), nums[5]);
        assert_eq!(keys[4].to_decimal(), nums[4]);
        assert_eq!(SequenceKey::parse("12a"), None);
        assert_eq!(SequenceKey::parse(&"1".repeat(41)), None);
        assert_eq!(SequenceKey::parse(""), None);
    }
}
