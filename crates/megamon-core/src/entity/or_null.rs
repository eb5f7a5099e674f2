//! A JSON field that may be `null` (or `~`), read as its default: a seed
//! around the visitor of the map or list it holds otherwise, so each of the
//! lean parsers' visitors handles only its own shape.

use serde::de::{DeserializeSeed, Deserializer, Visitor};

pub struct OrNull<V>(pub V);

impl<'de, V> DeserializeSeed<'de> for OrNull<V>
where
    V: Visitor<'de>,
    V::Value: Default,
{
    type Value = V::Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de, V> Visitor<'de> for OrNull<V>
where
    V: Visitor<'de>,
    V::Value: Default,
{
    type Value = V::Value;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        self.0.expecting(f)
    }
    fn visit_none<E>(self) -> Result<V::Value, E> {
        Ok(V::Value::default())
    }
    fn visit_unit<E>(self) -> Result<V::Value, E> {
        Ok(V::Value::default())
    }
    /// JSON says whether a map or a list follows; the inner visitor takes
    /// the one it expects and refuses anything else with its `expecting`.
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        d.deserialize_any(self.0)
    }
}
