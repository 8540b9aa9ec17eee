//! [`Labels`]: an item's upstream details without a field of their own.

use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// String pairs in key order, each key once: the API of the
/// `BTreeMap<String, String>` it replaces, over one sorted vector.
///
/// Items carry none to half a dozen labels, and a cached catalogue holds
/// 100k items: a B-tree's first node is ~540 bytes whatever it holds, the
/// vector 48 bytes per label, and a decoder's inserts come in key order
/// (each one an append). The JSON is the same object, keys sorted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Labels(Vec<(String, String)>);

impl Labels {
    /// No labels (allocates nothing).
    pub const fn new() -> Self {
        Labels(Vec::new())
    }

    /// No labels, with room for `n` without reallocating.
    pub fn with_capacity(n: usize) -> Self {
        Labels(Vec::with_capacity(n))
    }

    fn find(&self, key: &str) -> Result<usize, usize> {
        // In key order, the last key is where in-order inserts land.
        match self.0.last() {
            Some((last, _)) if last.as_str() < key => Err(self.0.len()),
            _ => self.0.binary_search_by(|(k, _)| k.as_str().cmp(key)),
        }
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&String> {
        self.find(key).ok().map(|i| &self.0[i].1)
    }

    /// Whether `key` has a value.
    pub fn contains_key(&self, key: &str) -> bool {
        self.find(key).is_ok()
    }

    /// Sets `key` to `value`, returning the value it replaced.
    pub fn insert(&mut self, key: String, value: String) -> Option<String> {
        match self.find(&key) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i].1, value)),
            Err(i) => {
                self.0.insert(i, (key, value));
                None
            }
        }
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        self.find(key).ok().map(|i| self.0.remove(i).1)
    }

    /// How many labels.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The pairs in key order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&String, &String)> + ExactSizeIterator {
        self.0.iter().map(|(k, v)| (k, v))
    }

    /// The keys in order.
    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &String> + ExactSizeIterator {
        self.0.iter().map(|(k, _)| k)
    }

    /// The values in key order.
    pub fn values(&self) -> impl DoubleEndedIterator<Item = &String> + ExactSizeIterator {
        self.0.iter().map(|(_, v)| v)
    }
}

impl std::ops::Index<&str> for Labels {
    type Output = String;

    /// The value of `key`; panics when there is none, as a map's index does.
    fn index(&self, key: &str) -> &String {
        match self.get(key) {
            Some(v) => v,
            None => panic!("no label {key:?}"),
        }
    }
}

impl Extend<(String, String)> for Labels {
    fn extend<I: IntoIterator<Item = (String, String)>>(&mut self, pairs: I) {
        for (k, v) in pairs {
            self.insert(k, v);
        }
    }
}

impl FromIterator<(String, String)> for Labels {
    /// Later pairs win over earlier ones with the same key, as in a map.
    fn from_iter<I: IntoIterator<Item = (String, String)>>(pairs: I) -> Self {
        let mut l = Labels::new();
        l.extend(pairs);
        l
    }
}

impl<K: Into<String>, V: Into<String>, const N: usize> From<[(K, V); N]> for Labels {
    fn from(pairs: [(K, V); N]) -> Self {
        pairs
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect()
    }
}

impl IntoIterator for Labels {
    type Item = (String, String);
    type IntoIter = std::vec::IntoIter<(String, String)>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a Labels {
    type Item = (&'a String, &'a String);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (String, String)>,
        fn(&'a (String, String)) -> (&'a String, &'a String),
    >;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(k, v)| (k, v))
    }
}

impl Serialize for Labels {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Labels {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Pairs;
        impl<'de> Visitor<'de> for Pairs {
            type Value = Labels;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of string values")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Labels, A::Error> {
                let mut l = Labels::with_capacity(map.size_hint().unwrap_or(0).min(64));
                while let Some((k, v)) = map.next_entry::<String, String>()? {
                    l.insert(k, v);
                }
                Ok(l)
            }
        }
        d.deserialize_map(Pairs)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn behaves_as_the_map_it_replaces() {
        let ops = [
            ("tag", "latest"),
            ("family", "ubuntu"),
            ("slug", "acme"),
            ("family", "debian"),
            ("a", "1"),
            ("z", "26"),
        ];
        let (mut l, mut m) = (Labels::new(), BTreeMap::new());
        for (k, v) in ops {
            assert_eq!(
                l.insert(k.into(), v.into()),
                m.insert(k.to_owned(), v.to_owned())
            );
        }
        assert_eq!(l.iter().collect::<Vec<_>>(), m.iter().collect::<Vec<_>>());
        assert_eq!(l.len(), m.len());
        assert_eq!(l.get("family").map(String::as_str), Some("debian"));
        assert_eq!(l["slug"], "acme");
        assert_eq!(l.remove("slug"), m.remove("slug"));
        assert_eq!(l.remove("slug"), None);
        assert!(!l.contains_key("slug") && l.contains_key("a") && l.get("b").is_none());
        assert_eq!(
            serde_json::to_string(&l).unwrap(),
            serde_json::to_string(&m).unwrap()
        );
    }

    #[test]
    fn json_round_trips_sorted_and_later_keys_win() {
        let l: Labels = serde_json::from_str(r#"{"b":"2","a":"1","b":"3"}"#).unwrap();
        assert_eq!(serde_json::to_string(&l).unwrap(), r#"{"a":"1","b":"3"}"#);
        assert!(serde_json::from_str::<Labels>(r#"{"a":1}"#).is_err());
        assert!(serde_json::from_str::<Labels>(r#"["a"]"#).is_err());
        assert_eq!(Labels::from([("x", "1")]).into_iter().count(), 1);
    }
}
