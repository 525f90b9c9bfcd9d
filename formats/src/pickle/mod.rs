//! A Python pickle interpreter (protocols 0–5) that never calls anything.
//!
//! It builds plain values: numbers, strings, bytes, containers, class references, the
//! storages and tensors of PyTorch checkpoints. `collections.OrderedDict()` becomes a
//! dict; `torch._utils._rebuild_tensor_v2` and `_rebuild_parameter` become tensors over
//! a persistent-id storage. Calling or instantiating anything else yields an opaque value.
//!
//! Values live in one arena and refer to each other by [`ValueId`], so shared and
//! self-referencing objects cost nothing extra and nothing is walked recursively. Every
//! opcode adds at most one value and reads its payload from the input, so memory grows
//! linearly with the input and the run time is linear too.

use std::collections::HashMap;

use crate::Result;

use machine::Machine;

/// How many `_rebuild_from_type_v2` wrappers a tensor rebuild may have.
const MAX_REBUILD_NESTING: usize = 8;

/// The most dimensions a tensor may have.
const MAX_DIMS: usize = 64;

/// The longest module, class or storage key name accepted, in bytes.
const MAX_NAME: usize = 256;

/// Index of a value in a [`Pickle`]'s arena.
pub type ValueId = usize;

/// One value built by the interpreter.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// `None`.
    None,
    /// A bool.
    Bool(bool),
    /// An int that fits 64 bits.
    Int(i64),
    /// An int wider than 64 bits (its value is not kept).
    BigInt,
    /// A float.
    Float(f64),
    /// A str (invalid UTF-8 replaced).
    Str(String),
    /// A bytes or bytearray.
    Bytes(Vec<u8>),
    /// A tuple.
    Tuple(Vec<ValueId>),
    /// A list.
    List(Vec<ValueId>),
    /// A dict or OrderedDict, in insertion order (a repeated key appears twice; the later wins).
    Dict(Vec<(ValueId, ValueId)>),
    /// A set or frozenset.
    Set(Vec<ValueId>),
    /// A reference to `module.name`, as loaded by GLOBAL / STACK_GLOBAL.
    Global(Box<(String, String)>),
    /// A PyTorch storage named by a persistent id `('storage', type, key, location, numel)`.
    Storage(Box<StorageRef>),
    /// A PyTorch tensor over a storage.
    Tensor(Box<TensorRef>),
    /// A tensor rebuild whose arguments were malformed; the text says why.
    BadTensor(String),
    /// Anything else; the text says what made it (e.g. a call of `module.name`).
    Opaque(String),
}

/// A storage of a PyTorch checkpoint: the archive entry `data/<key>`.
#[derive(Clone, Debug, PartialEq)]
pub struct StorageRef {
    /// The storage class name, e.g. `FloatStorage`.
    pub storage_type: String,
    /// The archive key of its bytes.
    pub key: String,
    /// Number of elements.
    pub numel: u64,
}

/// The arguments of `torch._utils._rebuild_tensor_v2`.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorRef {
    /// The storage ([`Value::Storage`]).
    pub storage: ValueId,
    /// Offset of the first element, in elements.
    pub offset: u64,
    /// Shape.
    pub size: Vec<u64>,
    /// Strides, in elements.
    pub stride: Vec<u64>,
}

/// The values of one unpickled stream.
#[derive(Debug)]
pub struct Pickle {
    values: Vec<Value>,
    root: ValueId,
}

impl Pickle {
    /// The value the stream returned.
    pub fn root(&self) -> ValueId {
        self.root
    }

    /// The value `id`.
    pub fn get(&self, id: ValueId) -> &Value {
        &self.values[id]
    }

    /// The value under string key `key` of dict `id` (the last one, as Python keeps).
    pub fn dict_get(&self, id: ValueId, key: &str) -> Option<ValueId> {
        match self.get(id) {
            Value::Dict(items) => items
                .iter()
                .rev()
                .find(|(k, _)| matches!(self.get(*k), Value::Str(s) if s == key))
                .map(|&(_, v)| v),
            _ => None,
        }
    }

    /// A one-line description of value `id`, for error messages.
    pub fn describe(&self, id: ValueId) -> String {
        describe_value(self.get(id))
    }
}

/// A short description of a value, in time independent of its size.
fn describe_value(value: &Value) -> String {
    match value {
        Value::None => "None".into(),
        Value::Bool(b) => format!("bool {b}"),
        Value::Int(i) => format!("int {i}"),
        Value::BigInt => "a big int".into(),
        Value::Float(f) => format!("float {f}"),
        Value::Str(s) => format!("str {:?}", s.chars().take(40).collect::<String>()),
        Value::Bytes(b) => format!("{} bytes", b.len()),
        Value::Tuple(v) => format!("a tuple of {}", v.len()),
        Value::List(v) => format!("a list of {}", v.len()),
        Value::Dict(v) => format!("a dict of {}", v.len()),
        Value::Set(v) => format!("a set of {}", v.len()),
        Value::Global(g) => format!("the global {}.{}", g.0, g.1),
        Value::Storage(s) => format!("storage {:?} ({})", s.key, s.storage_type),
        Value::Tensor(t) => format!("a tensor of {} dims", t.size.len()),
        Value::BadTensor(why) => format!("a malformed tensor ({why})"),
        Value::Opaque(what) => format!("an opaque object ({what})"),
    }
}

/// Interprets the pickle stream `data`.
pub fn parse_pickle(data: &[u8]) -> Result<Pickle> {
    let mut m = Machine {
        input: data,
        pos: 0,
        values: Vec::new(),
        stack: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
    };
    let root = m
        .run()
        .map_err(|e| e.context(format!("pickle at byte {}", m.pos)))?;
    Ok(Pickle {
        values: m.values,
        root,
    })
}

mod calls;
mod machine;
pub mod opcodes;
