//! DynamoDB attribute values exactly as the stream carries them.
//!
//! Numbers stay decimal text (DynamoDB holds up to 38 significant digits; f64 holds ~16), sets compare
//! as sets, binary stays base64. The deserializer reads the stream's typed JSON (`{"S": "..."}`) and
//! names the offending descriptor when one is unknown.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};

/// A DynamoDB item: attribute name → value, sorted by name so every output is deterministic.
pub type Item = BTreeMap<String, AttributeValue>;

/// One DynamoDB attribute value.
#[derive(Debug, Clone)]
pub enum AttributeValue {
    /// String.
    S(String),
    /// Number, as DynamoDB's decimal text.
    N(Number),
    /// Binary, base64 as on the wire.
    B(String),
    /// Boolean.
    Bool(bool),
    /// Null.
    Null,
    /// Map.
    M(Item),
    /// List.
    L(Vec<AttributeValue>),
    /// String set.
    Ss(Vec<String>),
    /// Number set.
    Ns(Vec<Number>),
    /// Binary set (base64).
    Bs(Vec<String>),
}

/// A DynamoDB number kept as validated decimal text; never converted to a float.
#[derive(Debug, Clone)]
pub struct Number(String);

impl Number {
    /// Validates `text` as a DynamoDB number (a JSON-style decimal, optional exponent).
    pub fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim();
        if is_decimal(t) {
            Ok(Number(t.to_owned()))
        } else {
            Err(format!("`{}` is not a number", truncate(text, 64)))
        }
    }

    /// The decimal text as DynamoDB sent it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A canonical form (sign, significant digits, exponent) so `1.0`, `1` and `1E0` compare equal.
    fn canonical(&self) -> (bool, String, i64) {
        canonical_decimal(&self.0)
    }
}

impl PartialEq for Number {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0 || self.canonical() == other.canonical()
    }
}
impl Eq for Number {}

impl PartialOrd for Number {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Number {
    /// Numeric order, computed on the decimal digits.
    fn cmp(&self, other: &Self) -> Ordering {
        let (na, da, ea) = self.canonical();
        let (nb, db, eb) = other.canonical();
        let za = da.is_empty();
        let zb = db.is_empty();
        let sign = |neg: bool, zero: bool| {
            if zero {
                0
            } else if neg {
                -1
            } else {
                1
            }
        };
        let (sa, sb) = (sign(na, za), sign(nb, zb));
        if sa != sb || sa == 0 {
            return sa.cmp(&sb);
        }
        // Same sign, both non-zero: compare magnitude = 0.d1d2... × 10^(e + len).
        let mag = (ea + da.len() as i64).cmp(&(eb + db.len() as i64)).then_with(|| da.cmp(&db));
        if sa < 0 {
            mag.reverse()
        } else {
            mag
        }
    }
}

fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

/// JSON number grammar, plus DynamoDB's leniency for a leading `+`/`.` and trailing `.`.
fn is_decimal(t: &str) -> bool {
    let b = t.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
        i += 1;
    }
    let int_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let mut digits = i - int_start;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let f = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        digits += i - f;
    }
    if digits == 0 {
        return false;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
            i += 1;
        }
        let e = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == e || i - e > 6 {
            return false;
        }
    }
    i == b.len()
}

/// (negative, significant digits without leading/trailing zeros, exponent of the last digit).
fn canonical_decimal(t: &str) -> (bool, String, i64) {
    let (neg, rest) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let (mantissa, exp) = match rest.find(['e', 'E']) {
        Some(p) => (&rest[..p], rest[p + 1..].parse::<i64>().unwrap_or(0)),
        None => (rest, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let mut digits: String = int.chars().chain(frac.chars()).collect();
    let mut exp = exp - frac.len() as i64;
    let lead = digits.len() - digits.trim_start_matches('0').len();
    digits.drain(..lead);
    while digits.ends_with('0') {
        digits.pop();
        exp += 1;
    }
    if digits.is_empty() {
        return (false, String::new(), 0);
    }
    (neg, digits, exp)
}

impl PartialEq for AttributeValue {
    /// Semantic equality: numbers by value, sets regardless of order.
    fn eq(&self, other: &Self) -> bool {
        use AttributeValue::*;
        match (self, other) {
            (S(a), S(b)) | (B(a), B(b)) => a == b,
            (N(a), N(b)) => a == b,
            (Bool(a), Bool(b)) => a == b,
            (Null, Null) => true,
            (M(a), M(b)) => a == b,
            (L(a), L(b)) => a == b,
            (Ss(a), Ss(b)) | (Bs(a), Bs(b)) => same_set(a, b),
            (Ns(a), Ns(b)) => same_set(a, b),
            _ => false,
        }
    }
}

fn same_set<T: Ord + Clone>(a: &[T], b: &[T]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut a = a.to_vec();
    let mut b = b.to_vec();
    a.sort();
    b.sort();
    a == b
}

impl AttributeValue {
    /// The DynamoDB type descriptor (`S`, `N`, `M`, …).
    pub fn type_name(&self) -> &'static str {
        use AttributeValue::*;
        match self {
            S(_) => "S",
            N(_) => "N",
            B(_) => "B",
            Bool(_) => "BOOL",
            Null => "NULL",
            M(_) => "M",
            L(_) => "L",
            Ss(_) => "SS",
            Ns(_) => "NS",
            Bs(_) => "BS",
        }
    }

    /// The string, when this is an `S`.
    pub fn as_s(&self) -> Option<&str> {
        match self {
            AttributeValue::S(s) => Some(s),
            _ => None,
        }
    }

    /// A truth value: `BOOL`, or the lenient `N` 0/1 and `S` "true"/"false" some writers use.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            AttributeValue::Bool(b) => Some(*b),
            AttributeValue::N(n) => Some(!n.canonical().1.is_empty()),
            AttributeValue::S(s) if s.eq_ignore_ascii_case("true") => Some(true),
            AttributeValue::S(s) if s.eq_ignore_ascii_case("false") => Some(false),
            _ => None,
        }
    }

    /// A short text for summaries: the string or number itself, the type otherwise.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            AttributeValue::S(s) => Some(s),
            AttributeValue::N(n) => Some(n.as_str()),
            _ => None,
        }
    }

    /// The value in DynamoDB's typed JSON (`{"N":"1"}`), for tools that write it back.
    pub fn to_typed_json(&self) -> serde_json::Value {
        use serde_json::{json, Value};
        use AttributeValue::*;
        match self {
            S(s) => json!({ "S": s }),
            N(n) => json!({ "N": n.as_str() }),
            B(b) => json!({ "B": b }),
            Bool(b) => json!({ "BOOL": b }),
            Null => json!({ "NULL": true }),
            M(m) => {
                let inner: serde_json::Map<String, Value> =
                    m.iter().map(|(k, v)| (k.clone(), v.to_typed_json())).collect();
                json!({ "M": inner })
            }
            L(l) => json!({ "L": l.iter().map(|v| v.to_typed_json()).collect::<Vec<_>>() }),
            Ss(s) => json!({ "SS": s }),
            Ns(n) => json!({ "NS": n.iter().map(|n| n.as_str()).collect::<Vec<_>>() }),
            Bs(b) => json!({ "BS": b }),
        }
    }
}

/// Plain JSON for the audit trail: numbers as exact JSON number literals, sets sorted, binary base64.
impl Serialize for AttributeValue {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        use AttributeValue::*;
        match self {
            S(s) | B(s) => ser.serialize_str(s),
            N(n) => n.serialize(ser),
            Bool(b) => ser.serialize_bool(*b),
            Null => ser.serialize_unit(),
            M(m) => {
                let mut map = ser.serialize_map(Some(m.len()))?;
                for (k, v) in m {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
            L(l) => {
                let mut seq = ser.serialize_seq(Some(l.len()))?;
                for v in l {
                    seq.serialize_element(v)?;
                }
                seq.end()
            }
            Ss(s) | Bs(s) => {
                let mut sorted: Vec<&String> = s.iter().collect();
                sorted.sort();
                ser.collect_seq(sorted)
            }
            Ns(n) => {
                let mut sorted: Vec<&Number> = n.iter().collect();
                sorted.sort();
                ser.collect_seq(sorted)
            }
        }
    }
}

impl Serialize for Number {
    /// Emits the digits as a JSON number literal, so all 38 digits survive.
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        // Fast path, no allocation: DynamoDB's text is almost always a valid JSON number already.
        if let Ok(raw) = serde_json::from_str::<&serde_json::value::RawValue>(&self.0) {
            return raw.serialize(ser);
        }
        // JSON has no leading '+', bare '.' or leading zeros, DynamoDB text may: normalise those only.
        let text = json_number_text(self.0.strip_prefix('+').unwrap_or(&self.0));
        match serde_json::value::RawValue::from_string(text.clone()) {
            Ok(raw) => raw.serialize(ser),
            Err(_) => ser.serialize_str(&text),
        }
    }
}

fn json_number_text(t: &str) -> String {
    let (neg, body) = match t.strip_prefix('-') {
        Some(b) => ("-", b),
        None => ("", t),
    };
    let mut s = String::with_capacity(t.len() + 2);
    s.push_str(neg);
    if body.starts_with('.') {
        s.push('0');
    }
    let (mant, exp) = match body.find(['e', 'E']) {
        Some(p) => (&body[..p], &body[p..]),
        None => (body, ""),
    };
    s.push_str(mant.strip_suffix('.').unwrap_or(mant));
    // Strip leading zeros of the integer part ("007" is not JSON).
    if let Some(rest) = s.strip_prefix(neg) {
        let int_len = rest.find('.').unwrap_or(rest.len());
        if int_len > 1 && rest.starts_with('0') {
            let zeros = rest[..int_len - 1].len() - rest[..int_len - 1].trim_start_matches('0').len();
            s.replace_range(neg.len()..neg.len() + zeros, "");
        }
    }
    s.push_str(exp);
    s
}

impl<'de> Deserialize<'de> for AttributeValue {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        de.deserialize_map(TypedVisitor)
    }
}

struct TypedVisitor;

impl<'de> Visitor<'de> for TypedVisitor {
    type Value = AttributeValue;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a DynamoDB typed value such as {\"S\": \"text\"}")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<AttributeValue, A::Error> {
        let Some(tag) = map.next_key::<std::borrow::Cow<'de, str>>()? else {
            return Err(de::Error::custom("empty attribute value: expected one type descriptor"));
        };
        let value = match tag.as_ref() {
            "S" => AttributeValue::S(map.next_value()?),
            "N" => {
                let s: std::borrow::Cow<'de, str> = map.next_value()?;
                AttributeValue::N(Number::parse(&s).map_err(de::Error::custom)?)
            }
            "B" => AttributeValue::B(base64_text(map.next_value()?)?),
            "BOOL" => AttributeValue::Bool(map.next_value()?),
            "NULL" => {
                let _: serde::de::IgnoredAny = map.next_value()?;
                AttributeValue::Null
            }
            "M" => AttributeValue::M(map.next_value()?),
            "L" => AttributeValue::L(map.next_value()?),
            "SS" => AttributeValue::Ss(map.next_value()?),
            "NS" => AttributeValue::Ns(map.next_value_seed(NumberList)?),
            "BS" => {
                let v: Vec<String> = map.next_value()?;
                AttributeValue::Bs(v.into_iter().map(base64_text).collect::<Result<_, _>>()?)
            }
            other => {
                return Err(de::Error::custom(format!(
                    "unknown DynamoDB type descriptor `{}` (expected one of S, N, B, BOOL, NULL, M, L, SS, NS, BS)",
                    truncate(other, 32)
                )))
            }
        };
        if let Some(extra) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            return Err(de::Error::custom(format!(
                "attribute value has a second type descriptor `{}` beside `{}`",
                truncate(&extra, 32),
                tag
            )));
        }
        Ok(value)
    }
}

fn base64_text<E: de::Error>(s: String) -> Result<String, E> {
    use base64::Engine;
    // Validate without keeping the bytes: the trail shows binary as base64 anyway.
    base64::engine::general_purpose::STANDARD
        .decode(s.as_bytes())
        .map_err(|e| E::custom(format!("binary value is not valid base64: {e}")))?;
    Ok(s)
}

struct NumberList;

impl<'de> de::DeserializeSeed<'de> for NumberList {
    type Value = Vec<Number>;
    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Vec<Number>, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Vec<Number>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of numbers as strings")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Number>, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
                while let Some(s) = seq.next_element::<std::borrow::Cow<'de, str>>()? {
                    out.push(Number::parse(&s).map_err(de::Error::custom)?);
                }
                Ok(out)
            }
        }
        de.deserialize_seq(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Number {
        Number::parse(s).unwrap()
    }

    #[test]
    fn numbers_compare_by_value() {
        assert_eq!(n("1"), n("1.0"));
        assert_eq!(n("100"), n("1E2"));
        assert_eq!(n("0"), n("-0.0"));
        assert!(n("2") > n("10E-1"));
        assert!(n("-5") < n("-4.99"));
        assert!(n("12345678901234567890123456789012345678") > n("12345678901234567890123456789012345677"));
        assert_ne!(n("0.1"), n("0.10000000000000001"));
    }

    #[test]
    fn rejects_non_numbers() {
        assert!(Number::parse("abc").is_err());
        assert!(Number::parse("1e").is_err());
        assert!(Number::parse("").is_err());
        assert!(Number::parse("NaN").is_err());
    }

    #[test]
    fn serializes_exact_json_numbers() {
        let v = AttributeValue::N(n("12345678901234567890123456789012345678"));
        assert_eq!(serde_json::to_string(&v).unwrap(), "12345678901234567890123456789012345678");
        assert_eq!(serde_json::to_string(&AttributeValue::N(n("+.5"))).unwrap(), "0.5");
        assert_eq!(serde_json::to_string(&AttributeValue::N(n("007"))).unwrap(), "7");
        assert_eq!(serde_json::to_string(&AttributeValue::N(n("-00.5"))).unwrap(), "-0.5");
    }

    #[test]
    fn unknown_descriptor_is_named() {
        let err = serde_json::from_str::<AttributeValue>(r#"{"Q": "x"}"#).unwrap_err();
        assert!(err.to_string().contains("unknown DynamoDB type descriptor `Q`"), "{err}");
    }

    #[test]
    fn sets_compare_as_sets() {
        let a: AttributeValue = serde_json::from_str(r#"{"SS": ["a", "b"]}"#).unwrap();
        let b: AttributeValue = serde_json::from_str(r#"{"SS": ["b", "a"]}"#).unwrap();
        assert_eq!(a, b);
        let c: AttributeValue = serde_json::from_str(r#"{"NS": ["1", "2.0"]}"#).unwrap();
        let d: AttributeValue = serde_json::from_str(r#"{"NS": ["2", "1"]}"#).unwrap();
        assert_eq!(c, d);
        assert_eq!(serde_json::to_string(&c).unwrap(), "[1,2.0]");
    }
}
