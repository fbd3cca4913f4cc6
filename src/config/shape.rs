//! The shape serde expects for a raw config type, traced from its own `Deserialize` impl: field names and value kinds.
//!
//! A tiny `Deserializer` answers every request with a placeholder and records what was asked
//! for, so the valid keys of a table come from the derive, never from a hand-written copy.

use serde::de::value::{Error, StrDeserializer};
use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, Visitor};

/// The name of the newtype that marks a duration string (`"30s"`) in `raw.rs`.
pub const DURATION: &str = "RawDuration";

/// What a config value must look like.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Shape {
    Str,
    /// A string holding a duration, e.g. `"30s"`.
    Duration,
    Int,
    Bool,
    Seq(Box<Shape>),
    /// A table with free keys.
    Map(Box<Shape>),
    /// A table with these keys, in declaration order.
    Struct(Vec<(&'static str, Shape)>),
    /// Anything (checked later, at its own level).
    Any,
}

impl Shape {
    /// The keys a `Struct` accepts; empty for other shapes.
    pub fn fields(&self) -> Vec<&'static str> {
        match self {
            Shape::Struct(f) => f.iter().map(|(k, _)| *k).collect(),
            _ => Vec::new(),
        }
    }
}

/// The shape of `T`, as its `Deserialize` impl asks for it.
pub fn shape_of<T: DeserializeOwned>() -> Shape {
    let mut out = Shape::Any;
    // A placeholder-fed derive cannot fail; if a future type refuses, `Any` checks nothing.
    if T::deserialize(Tracer { out: &mut out }).is_err() {
        return Shape::Any;
    }
    out
}

struct Tracer<'a> {
    out: &'a mut Shape,
}

impl<'de> de::Deserializer<'de> for Tracer<'_> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        *self.out = Shape::Any;
        v.visit_bool(false)
    }
    fn deserialize_bool<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        *self.out = Shape::Bool;
        v.visit_bool(false)
    }
    fn deserialize_i64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        *self.out = Shape::Int;
        v.visit_i64(0)
    }
    fn deserialize_u64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        *self.out = Shape::Int;
        v.visit_u64(0)
    }
    /// A float (`cpus = 0.5`): any number is fine by the schema; serde checks the type.
    fn deserialize_f64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        *self.out = Shape::Any;
        v.visit_f64(0.0)
    }
    fn deserialize_str<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        *self.out = Shape::Str;
        v.visit_str("")
    }
    fn deserialize_string<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        self.deserialize_str(v)
    }
    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        v.visit_some(self)
    }
    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        v: V,
    ) -> Result<V::Value, Error> {
        let r = v.visit_newtype_struct(Tracer { out: self.out })?;
        if name == DURATION && *self.out == Shape::Str {
            *self.out = Shape::Duration;
        }
        Ok(r)
    }
    fn deserialize_seq<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        let mut elem = Shape::Any;
        let r = v.visit_seq(OneElement {
            out: Some(&mut elem),
        })?;
        *self.out = Shape::Seq(Box::new(elem));
        Ok(r)
    }
    fn deserialize_map<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        let mut value = Shape::Any;
        let r = v.visit_map(Entries {
            keys: &["key"],
            next: 0,
            shapes: Vec::new(),
            single: Some(&mut value),
        })?;
        *self.out = Shape::Map(Box::new(value));
        Ok(r)
    }
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, Error> {
        let mut e = Entries {
            keys: fields,
            next: 0,
            shapes: Vec::new(),
            single: None,
        };
        let r = v.visit_map(&mut e)?;
        *self.out = Shape::Struct(fields.iter().copied().zip(e.shapes).collect());
        Ok(r)
    }

    serde::forward_to_deserialize_any! {
        i8 i16 i32 i128 u8 u16 u32 u128 f32 char bytes byte_buf unit unit_struct
        tuple tuple_struct enum identifier ignored_any
    }
}

/// A sequence of one traced element.
struct OneElement<'a> {
    out: Option<&'a mut Shape>,
}

impl<'de> de::SeqAccess<'de> for OneElement<'_> {
    type Error = Error;
    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        match self.out.take() {
            Some(out) => seed.deserialize(Tracer { out }).map(Some),
            None => Ok(None),
        }
    }
}

/// A table whose keys are `keys`, each value traced: into `single` for a map, into `shapes` for a struct.
struct Entries<'a> {
    keys: &'static [&'static str],
    next: usize,
    shapes: Vec<Shape>,
    single: Option<&'a mut Shape>,
}

impl<'de> de::MapAccess<'de> for Entries<'_> {
    type Error = Error;
    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        let Some(k) = self.keys.get(self.next) else {
            return Ok(None);
        };
        self.next += 1;
        let de: StrDeserializer<'_, Error> = k.into_deserializer();
        seed.deserialize(de).map(Some)
    }
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        match self.single.as_deref_mut() {
            Some(out) => seed.deserialize(Tracer { out }),
            None => {
                let mut s = Shape::Any;
                let r = seed.deserialize(Tracer { out: &mut s })?;
                self.shapes.push(s);
                Ok(r)
            }
        }
    }
}
