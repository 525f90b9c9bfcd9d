//! The values of a GGUF file's metadata: numbers, booleans, strings and arrays of them.

use std::fmt;

use super::cursor::Cursor;
use super::writer::{ALIGNMENT_KEY, DEFAULT_ALIGNMENT};
use crate::{bail, ensure, Result};

/// How deep arrays of arrays may nest.
pub const MAX_ARRAY_DEPTH: usize = 4;

/// Arrays longer than this are listed by their first items and their length.
const LISTED_ITEMS: usize = 8;

/// One metadata value, as its GGUF value type stores it.
#[derive(Clone, Debug, PartialEq)]
pub enum MetaValue {
    /// Value type 0.
    U8(u8),
    /// Value type 1.
    I8(i8),
    /// Value type 2.
    U16(u16),
    /// Value type 3.
    I16(i16),
    /// Value type 4.
    U32(u32),
    /// Value type 5.
    I32(i32),
    /// Value type 6.
    F32(f32),
    /// Value type 7: a byte, 0 or 1.
    Bool(bool),
    /// Value type 8: UTF-8.
    String(String),
    /// Value type 9: items of one value type.
    Array(Vec<MetaValue>),
    /// Value type 10.
    U64(u64),
    /// Value type 11.
    I64(i64),
    /// Value type 12.
    F64(f64),
}

/// GGUF's value type numbers, each with its name and the fewest bytes a value of it takes.
const VALUE_TYPES: [(&str, u64); 13] = [
    ("u8", 1),
    ("i8", 1),
    ("u16", 2),
    ("i16", 2),
    ("u32", 4),
    ("i32", 4),
    ("f32", 4),
    ("bool", 1),
    ("string", 8),
    ("array", 12),
    ("u64", 8),
    ("i64", 8),
    ("f64", 8),
];

impl MetaValue {
    /// The GGUF name of the value's type (`"u32"`, `"string"`, `"array"`, …).
    pub fn type_name(&self) -> &'static str {
        VALUE_TYPES[self.type_id() as usize].0
    }

    fn type_id(&self) -> u32 {
        match self {
            MetaValue::U8(_) => 0,
            MetaValue::I8(_) => 1,
            MetaValue::U16(_) => 2,
            MetaValue::I16(_) => 3,
            MetaValue::U32(_) => 4,
            MetaValue::I32(_) => 5,
            MetaValue::F32(_) => 6,
            MetaValue::Bool(_) => 7,
            MetaValue::String(_) => 8,
            MetaValue::Array(_) => 9,
            MetaValue::U64(_) => 10,
            MetaValue::I64(_) => 11,
            MetaValue::F64(_) => 12,
        }
    }

    /// Appends the value's type number and the value as a GGUF file stores them. An
    /// array's items must share one type (an empty array is written as one of strings).
    pub(crate) fn encode(&self, out: &mut Vec<u8>) -> Result<()> {
        out.extend_from_slice(&self.type_id().to_le_bytes());
        self.encode_value(out)
    }

    fn encode_value(&self, out: &mut Vec<u8>) -> Result<()> {
        match self {
            MetaValue::U8(v) => out.push(*v),
            MetaValue::I8(v) => out.extend_from_slice(&v.to_le_bytes()),
            MetaValue::U16(v) => out.extend_from_slice(&v.to_le_bytes()),
            MetaValue::I16(v) => out.extend_from_slice(&v.to_le_bytes()),
            MetaValue::U32(v) => out.extend_from_slice(&v.to_le_bytes()),
            MetaValue::I32(v) => out.extend_from_slice(&v.to_le_bytes()),
            MetaValue::F32(v) => out.extend_from_slice(&v.to_le_bytes()),
            MetaValue::Bool(v) => out.push(u8::from(*v)),
            MetaValue::String(s) => super::writer::push_string(s, out),
            MetaValue::U64(v) => out.extend_from_slice(&v.to_le_bytes()),
            MetaValue::I64(v) => out.extend_from_slice(&v.to_le_bytes()),
            MetaValue::F64(v) => out.extend_from_slice(&v.to_le_bytes()),
            MetaValue::Array(items) => {
                let item_type = items.first().map_or(8, MetaValue::type_id);
                ensure!(
                    items.iter().all(|v| v.type_id() == item_type),
                    "the items of an array must share one value type"
                );
                out.extend_from_slice(&item_type.to_le_bytes());
                out.extend_from_slice(&(items.len() as u64).to_le_bytes());
                for item in items {
                    item.encode_value(out)?;
                }
            }
        }
        Ok(())
    }

    /// The string, when the value is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            MetaValue::String(s) => Some(s),
            _ => None,
        }
    }

    /// The value as a u64, when it is an unsigned integer.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            MetaValue::U8(v) => Some(v.into()),
            MetaValue::U16(v) => Some(v.into()),
            MetaValue::U32(v) => Some(v.into()),
            MetaValue::U64(v) => Some(v),
            _ => None,
        }
    }
}

/// The alignment of a file's data section that `metadata` names: `general.alignment`, a
/// u32 and a nonzero power of two (as ggml requires), or [`DEFAULT_ALIGNMENT`] when absent.
pub(crate) fn alignment(metadata: &[(String, MetaValue)]) -> Result<u64> {
    let Some((_, value)) = metadata.iter().find(|(k, _)| k == ALIGNMENT_KEY) else {
        return Ok(DEFAULT_ALIGNMENT.into());
    };
    let MetaValue::U32(alignment) = *value else {
        bail!(
            "metadata key {ALIGNMENT_KEY:?} is a {} ({value}), not a u32",
            value.type_name()
        );
    };
    ensure!(
        alignment.is_power_of_two(),
        "metadata key {ALIGNMENT_KEY:?} is {alignment}, not a nonzero power of two"
    );
    Ok(alignment.into())
}

/// Reads a value of type number `ty`; `depth` counts the arrays it lies in.
pub(crate) fn read_value(cur: &mut Cursor, ty: u32, depth: usize) -> Result<MetaValue> {
    Ok(match ty {
        0 => MetaValue::U8(u8::from_le_bytes(cur.array("u8 value")?)),
        1 => MetaValue::I8(i8::from_le_bytes(cur.array("i8 value")?)),
        2 => MetaValue::U16(u16::from_le_bytes(cur.array("u16 value")?)),
        3 => MetaValue::I16(i16::from_le_bytes(cur.array("i16 value")?)),
        4 => MetaValue::U32(cur.u32("u32 value")?),
        5 => MetaValue::I32(i32::from_le_bytes(cur.array("i32 value")?)),
        6 => MetaValue::F32(f32::from_le_bytes(cur.array("f32 value")?)),
        7 => match cur.array::<1>("bool value")? {
            [0] => MetaValue::Bool(false),
            [1] => MetaValue::Bool(true),
            [other] => bail!("bool value {other} is neither 0 nor 1"),
        },
        8 => MetaValue::String(cur.string("string value")?),
        9 => read_array(cur, depth)?,
        10 => MetaValue::U64(cur.u64("u64 value")?),
        11 => MetaValue::I64(i64::from_le_bytes(cur.array("i64 value")?)),
        12 => MetaValue::F64(f64::from_le_bytes(cur.array("f64 value")?)),
        other => bail!(
            "unknown value type {other} (GGUF's are 0 to {})",
            VALUE_TYPES.len() - 1
        ),
    })
}

/// Reads an array's item type, count and items.
fn read_array(cur: &mut Cursor, depth: usize) -> Result<MetaValue> {
    ensure!(
        depth < MAX_ARRAY_DEPTH,
        "arrays nest deeper than {MAX_ARRAY_DEPTH} levels"
    );
    let item_type = cur.u32("array item type")?;
    let count = cur.u64("array length")?;
    let Some(&(name, min_bytes)) = VALUE_TYPES.get(item_type as usize) else {
        bail!("array of unknown value type {item_type}");
    };
    cur.ensure_fits(count, min_bytes, &format!("{name} array items"))?;
    let mut items = Vec::with_capacity(count as usize);
    for i in 0..count {
        let item = read_value(cur, item_type, depth + 1)
            .map_err(|e| e.context(format!("array item {i} of {count}")))?;
        items.push(item);
    }
    Ok(MetaValue::Array(items))
}

impl fmt::Display for MetaValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let number: &dyn fmt::Display = match self {
            MetaValue::String(v) => return write!(f, "{v:?}"),
            MetaValue::Array(items) => return list(items, f),
            MetaValue::U8(v) => v,
            MetaValue::I8(v) => v,
            MetaValue::U16(v) => v,
            MetaValue::I16(v) => v,
            MetaValue::U32(v) => v,
            MetaValue::I32(v) => v,
            MetaValue::F32(v) => v,
            MetaValue::Bool(v) => v,
            MetaValue::U64(v) => v,
            MetaValue::I64(v) => v,
            MetaValue::F64(v) => v,
        };
        number.fmt(f)
    }
}

/// Writes an array's first items, and its length when some are left out.
fn list(items: &[MetaValue], f: &mut fmt::Formatter<'_>) -> fmt::Result {
    f.write_str("[")?;
    for (i, item) in items.iter().take(LISTED_ITEMS).enumerate() {
        let sep = if i == 0 { "" } else { ", " };
        write!(f, "{sep}{item}")?;
    }
    if items.len() > LISTED_ITEMS {
        write!(f, ", … ({} items)", items.len())?;
    }
    f.write_str("]")
}
