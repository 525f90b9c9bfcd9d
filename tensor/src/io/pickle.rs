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

use crate::{bail, ensure, Error, Result};

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

struct Machine<'a> {
    input: &'a [u8],
    pos: usize,
    values: Vec<Value>,
    stack: Vec<ValueId>,
    marks: Vec<usize>,
    memo: HashMap<u64, ValueId>,
}

impl<'a> Machine<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        ensure!(
            n <= self.input.len() - self.pos,
            "truncated: {n} bytes wanted, {} left",
            self.input.len() - self.pos
        );
        let s = &self.input[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn take_array<const N: usize>(&mut self) -> Result<[u8; N]> {
        Ok(self.take(N)?.try_into().expect("N bytes"))
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_le_bytes(self.take_array()?))
    }

    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take_array()?))
    }

    fn len8(&mut self) -> Result<usize> {
        let n = u64::from_le_bytes(self.take_array()?);
        usize::try_from(n).map_err(|_| Error::msg(format!("length {n} is too large")))
    }

    /// A text line (without its newline), as protocol 0 opcodes carry.
    fn line(&mut self) -> Result<&'a str> {
        let rest = &self.input[self.pos..];
        let n = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| Error::msg("truncated: unterminated text line"))?;
        self.pos += n + 1;
        std::str::from_utf8(&rest[..n]).map_err(|_| Error::msg("text line is not UTF-8"))
    }

    fn new_value(&mut self, v: Value) -> ValueId {
        self.values.push(v);
        self.values.len() - 1
    }

    fn push(&mut self, v: Value) {
        let id = self.new_value(v);
        self.stack.push(id);
    }

    fn pop(&mut self) -> Result<ValueId> {
        let floor = self.marks.last().copied().unwrap_or(0);
        ensure!(self.stack.len() > floor, "stack underflow");
        Ok(self.stack.pop().expect("non-empty"))
    }

    fn top(&self) -> Result<ValueId> {
        let floor = self.marks.last().copied().unwrap_or(0);
        ensure!(self.stack.len() > floor, "stack underflow");
        Ok(*self.stack.last().expect("non-empty"))
    }

    fn pop_mark(&mut self) -> Result<Vec<ValueId>> {
        let mark = self
            .marks
            .pop()
            .ok_or_else(|| Error::msg("no MARK on the stack"))?;
        Ok(self.stack.split_off(mark))
    }

    fn str_of(&self, id: ValueId) -> Option<&str> {
        match &self.values[id] {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    fn memo_get(&mut self, key: u64) -> Result<()> {
        let id = *self
            .memo
            .get(&key)
            .ok_or_else(|| Error::msg(format!("memo key {key} was never stored")))?;
        self.stack.push(id);
        Ok(())
    }

    fn memo_put(&mut self, key: u64) -> Result<()> {
        let id = self.top()?;
        self.memo.insert(key, id);
        Ok(())
    }

    fn run(&mut self) -> Result<ValueId> {
        loop {
            let op = self.u8()?;
            match op {
                0x80 => {
                    let proto = self.u8()?;
                    ensure!(proto <= 5, "unsupported pickle protocol {proto}");
                }
                0x95 => {
                    self.take(8)?;
                }
                b'.' => {
                    let root = self.pop()?;
                    return Ok(root);
                }
                b'(' => self.marks.push(self.stack.len()),
                b'0' => {
                    if self.stack.len() > self.marks.last().copied().unwrap_or(0) {
                        self.stack.pop();
                    } else {
                        self.pop_mark()?;
                    }
                }
                b'1' => {
                    self.pop_mark()?;
                }
                b'2' => {
                    let id = self.top()?;
                    self.stack.push(id);
                }
                b'N' => self.push(Value::None),
                0x88 => self.push(Value::Bool(true)),
                0x89 => self.push(Value::Bool(false)),
                b'I' => {
                    let v = match self.line()? {
                        "00" => Value::Bool(false),
                        "01" => Value::Bool(true),
                        text => parse_int(text)?,
                    };
                    self.push(v);
                }
                b'L' => {
                    let text = self.line()?;
                    let v = parse_int(text.strip_suffix('L').unwrap_or(text))?;
                    self.push(v);
                }
                b'J' => {
                    let v = i32::from_le_bytes(self.take_array()?);
                    self.push(Value::Int(v as i64));
                }
                b'K' => {
                    let v = self.u8()?;
                    self.push(Value::Int(v as i64));
                }
                b'M' => {
                    let v = self.u16()?;
                    self.push(Value::Int(v as i64));
                }
                0x8a => {
                    let n = self.u8()? as usize;
                    let v = long_value(self.take(n)?);
                    self.push(v);
                }
                0x8b => {
                    let n = self.u32()? as usize;
                    let v = long_value(self.take(n)?);
                    self.push(v);
                }
                b'F' => {
                    let text = self.line()?;
                    let f = text
                        .trim()
                        .parse()
                        .map_err(|_| Error::msg(format!("invalid FLOAT {text:?}")))?;
                    self.push(Value::Float(f));
                }
                b'G' => {
                    let f = f64::from_be_bytes(self.take_array()?);
                    self.push(Value::Float(f));
                }
                b'S' => {
                    let text = self.line()?;
                    let inner = text
                        .strip_prefix(['\'', '"'])
                        .and_then(|t| t.strip_suffix(['\'', '"']))
                        .ok_or_else(|| Error::msg("STRING is not quoted"))?;
                    self.push(Value::Str(inner.to_string()));
                }
                b'V' => {
                    let text = self.line()?;
                    self.push(Value::Str(text.to_string()));
                }
                b'T' => {
                    let n = i32::from_le_bytes(self.take_array()?);
                    ensure!(n >= 0, "negative BINSTRING length");
                    self.push_str(n as usize)?;
                }
                b'U' | 0x8c => {
                    let n = self.u8()? as usize;
                    self.push_str(n)?;
                }
                b'X' => {
                    let n = self.u32()? as usize;
                    self.push_str(n)?;
                }
                0x8d => {
                    let n = self.len8()?;
                    self.push_str(n)?;
                }
                b'C' => {
                    let n = self.u8()? as usize;
                    self.push_bytes(n)?;
                }
                b'B' => {
                    let n = self.u32()? as usize;
                    self.push_bytes(n)?;
                }
                0x8e | 0x96 => {
                    let n = self.len8()?;
                    self.push_bytes(n)?;
                }
                b')' => self.push(Value::Tuple(Vec::new())),
                b't' => {
                    let items = self.pop_mark()?;
                    self.push(Value::Tuple(items));
                }
                0x85..=0x87 => {
                    let n = (op - 0x84) as usize;
                    let mut items = vec![0; n];
                    for slot in items.iter_mut().rev() {
                        *slot = self.pop()?;
                    }
                    self.push(Value::Tuple(items));
                }
                b']' => self.push(Value::List(Vec::new())),
                b'l' => {
                    let items = self.pop_mark()?;
                    self.push(Value::List(items));
                }
                b'a' => {
                    let item = self.pop()?;
                    self.extend(vec![item])?;
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    self.extend(items)?;
                }
                b'}' => self.push(Value::Dict(Vec::new())),
                b'd' => {
                    let items = self.pop_mark()?;
                    let pairs = pairs(items)?;
                    self.push(Value::Dict(pairs));
                }
                b's' => {
                    let value = self.pop()?;
                    let key = self.pop()?;
                    self.set_items(vec![(key, value)])?;
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    let pairs = pairs(items)?;
                    self.set_items(pairs)?;
                }
                0x8f => self.push(Value::Set(Vec::new())),
                0x90 => {
                    let items = self.pop_mark()?;
                    self.extend(items)?;
                }
                0x91 => {
                    let items = self.pop_mark()?;
                    self.push(Value::Set(items));
                }
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    self.push_global(module, name)?;
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    let (Some(module), Some(name)) = (self.str_of(module), self.str_of(name))
                    else {
                        bail!("STACK_GLOBAL needs two strings");
                    };
                    let global = global_value(module, name)?;
                    self.push(global);
                }
                b'R' => {
                    let args = self.pop()?;
                    let func = self.pop()?;
                    self.call(func, args)?;
                }
                b'b' => {
                    // The state of an object is not applied: the object stays as it was built.
                    self.pop()?;
                    self.top()?;
                }
                0x81 => {
                    self.pop()?;
                    let cls = self.pop()?;
                    let v = self.instance(cls);
                    self.push(v);
                }
                0x92 => {
                    self.pop()?;
                    self.pop()?;
                    let cls = self.pop()?;
                    let v = self.instance(cls);
                    self.push(v);
                }
                b'i' => {
                    let module = self.line()?.to_string();
                    let name = self.line()?.to_string();
                    self.pop_mark()?;
                    self.push(Value::Opaque(format!("an instance of {module}.{name}")));
                }
                b'o' => {
                    let items = self.pop_mark()?;
                    let cls = *items
                        .first()
                        .ok_or_else(|| Error::msg("OBJ without a class"))?;
                    let v = self.instance(cls);
                    self.push(v);
                }
                0x82 => {
                    let code = self.u8()?;
                    self.push(Value::Opaque(format!("extension {code}")));
                }
                0x83 => {
                    let code = self.u16()?;
                    self.push(Value::Opaque(format!("extension {code}")));
                }
                0x84 => {
                    let code = self.u32()?;
                    self.push(Value::Opaque(format!("extension {code}")));
                }
                b'P' => {
                    let pid = self.line()?;
                    self.push(Value::Opaque(format!("persistent id {pid:?}")));
                }
                b'Q' => {
                    let pid = self.pop()?;
                    let v = self.persistent_load(pid);
                    self.push(v);
                }
                b'p' => {
                    let key = parse_memo_key(self.line()?)?;
                    self.memo_put(key)?;
                }
                b'q' => {
                    let key = self.u8()? as u64;
                    self.memo_put(key)?;
                }
                b'r' => {
                    let key = self.u32()? as u64;
                    self.memo_put(key)?;
                }
                0x94 => {
                    let key = self.memo.len() as u64;
                    self.memo_put(key)?;
                }
                b'g' => {
                    let key = parse_memo_key(self.line()?)?;
                    self.memo_get(key)?;
                }
                b'h' => {
                    let key = self.u8()? as u64;
                    self.memo_get(key)?;
                }
                b'j' => {
                    let key = self.u32()? as u64;
                    self.memo_get(key)?;
                }
                0x97 | 0x98 => bail!("out-of-band buffers are not supported"),
                other => bail!("unknown opcode 0x{other:02x}"),
            }
        }
    }

    fn push_global(&mut self, module: &str, name: &str) -> Result<()> {
        let global = global_value(module, name)?;
        self.push(global);
        Ok(())
    }

    fn push_str(&mut self, n: usize) -> Result<()> {
        let s = String::from_utf8_lossy(self.take(n)?).into_owned();
        self.push(Value::Str(s));
        Ok(())
    }

    fn push_bytes(&mut self, n: usize) -> Result<()> {
        let b = self.take(n)?.to_vec();
        self.push(Value::Bytes(b));
        Ok(())
    }

    /// APPEND(S) / ADDITEMS onto the list or set at the top of the stack.
    fn extend(&mut self, items: Vec<ValueId>) -> Result<()> {
        let target = self.top()?;
        match &mut self.values[target] {
            Value::List(v) | Value::Set(v) => v.extend(items),
            Value::Opaque(_) => {}
            _ => bail!("cannot append to {}", self.describe(target)),
        }
        Ok(())
    }

    /// SETITEM(S) onto the dict at the top of the stack.
    fn set_items(&mut self, items: Vec<(ValueId, ValueId)>) -> Result<()> {
        let target = self.top()?;
        match &mut self.values[target] {
            Value::Dict(v) => v.extend(items),
            Value::Opaque(_) => {}
            _ => bail!("cannot set items of {}", self.describe(target)),
        }
        Ok(())
    }

    fn describe(&self, id: ValueId) -> String {
        describe_value(&self.values[id])
    }

    fn global_name(&self, id: ValueId) -> Option<(&str, &str)> {
        match &self.values[id] {
            Value::Global(g) => Some((g.0.as_str(), g.1.as_str())),
            _ => None,
        }
    }

    fn tuple_items(&self, id: ValueId) -> Option<&[ValueId]> {
        match &self.values[id] {
            Value::Tuple(items) => Some(items),
            _ => None,
        }
    }

    /// REDUCE: the few known constructors build values; any other call is opaque.
    fn call(&mut self, mut func: ValueId, mut args: ValueId) -> Result<()> {
        let v = match self.build_call(&mut func, &mut args) {
            Ok(existing) => {
                self.stack.push(existing);
                return Ok(());
            }
            Err(v) => v,
        };
        self.push(v);
        Ok(())
    }

    /// The value of `func(*args)`: `Ok` with an existing value, `Err` with a new one.
    fn build_call(
        &self,
        func: &mut ValueId,
        args: &mut ValueId,
    ) -> std::result::Result<ValueId, Value> {
        // `_rebuild_from_type_v2(inner, type, inner_args, state)` wraps another rebuild.
        for _ in 0..MAX_REBUILD_NESTING {
            let Some((module, name)) = self.global_name(*func) else {
                return Err(Value::Opaque(format!("a call of {}", self.describe(*func))));
            };
            let args_items = self.tuple_items(*args).unwrap_or(&[]);
            return Err(match (module, name) {
                ("collections", "OrderedDict") if args_items.is_empty() => Value::Dict(Vec::new()),
                ("torch._utils", "_rebuild_tensor_v2" | "_rebuild_tensor") => {
                    match self.rebuild_tensor(args_items) {
                        Ok(t) => Value::Tensor(Box::new(t)),
                        Err(e) => Value::BadTensor(e.message().to_string()),
                    }
                }
                ("torch._utils", "_rebuild_parameter" | "_rebuild_parameter_with_state") => {
                    match args_items.first() {
                        Some(&d)
                            if matches!(self.values[d], Value::Tensor(_) | Value::BadTensor(_)) =>
                        {
                            return Ok(d)
                        }
                        _ => Value::BadTensor(format!("{name} without a tensor")),
                    }
                }
                ("torch._tensor", "_rebuild_from_type_v2") => match args_items {
                    [inner, _ty, inner_args, ..] => {
                        (*func, *args) = (*inner, *inner_args);
                        continue;
                    }
                    _ => Value::BadTensor(format!("{name} with malformed arguments")),
                },
                _ => Value::Opaque(format!("a call of {}", self.describe(*func))),
            });
        }
        Err(Value::BadTensor("tensor rebuilds nested too deeply".into()))
    }

    /// NEWOBJ / OBJ: always opaque.
    fn instance(&self, cls: ValueId) -> Value {
        match self.global_name(cls) {
            Some((module, name)) => Value::Opaque(format!("an instance of {module}.{name}")),
            None => Value::Opaque("an instance of an unknown class".into()),
        }
    }

    fn rebuild_tensor(&self, args: &[ValueId]) -> Result<TensorRef> {
        ensure!(
            args.len() >= 4,
            "tensor rebuild with {} arguments",
            args.len()
        );
        ensure!(
            matches!(self.values[args[0]], Value::Storage(_)),
            "tensor rebuild over {} instead of a storage",
            self.describe(args[0])
        );
        let offset = self.non_negative(args[1])?;
        let size = self.int_tuple(args[2])?;
        ensure!(
            size.len() <= MAX_DIMS,
            "tensor rebuild with {} dims",
            size.len()
        );
        let stride = self.int_tuple(args[3])?;
        ensure!(
            size.len() == stride.len(),
            "tensor rebuild with {} sizes and {} strides",
            size.len(),
            stride.len()
        );
        Ok(TensorRef {
            storage: args[0],
            offset,
            size,
            stride,
        })
    }

    fn non_negative(&self, id: ValueId) -> Result<u64> {
        match self.values[id] {
            Value::Int(i) if i >= 0 => Ok(i as u64),
            _ => bail!("expected a non-negative int, found {}", self.describe(id)),
        }
    }

    fn int_tuple(&self, id: ValueId) -> Result<Vec<u64>> {
        let items = self.tuple_items(id).ok_or_else(|| {
            Error::msg(format!(
                "expected a tuple of ints, found {}",
                self.describe(id)
            ))
        })?;
        ensure!(
            items.len() <= MAX_DIMS,
            "a tuple of {} ints is too long for a shape",
            items.len()
        );
        items.iter().map(|&i| self.non_negative(i)).collect()
    }

    /// BINPERSID: `('storage', <torch.XStorage>, key, location, numel)` names a storage.
    fn persistent_load(&self, pid: ValueId) -> Value {
        let storage = (|| {
            let items = self.tuple_items(pid)?;
            let [tag, ty, key, _location, numel] = items else {
                return None;
            };
            if self.str_of(*tag)? != "storage" {
                return None;
            }
            let (_, storage_type) = self.global_name(*ty)?;
            let key = self
                .str_of(*key)
                .filter(|k| k.len() <= MAX_NAME)?
                .to_string();
            let numel = self.non_negative(*numel).ok()?;
            Some(StorageRef {
                storage_type: storage_type.to_string(),
                key,
                numel,
            })
        })();
        match storage {
            Some(s) => Value::Storage(Box::new(s)),
            None => Value::Opaque(format!("persistent id {}", self.describe(pid))),
        }
    }
}

fn global_value(module: &str, name: &str) -> Result<Value> {
    ensure!(
        module.len() <= MAX_NAME && name.len() <= MAX_NAME,
        "global name longer than {MAX_NAME} bytes"
    );
    Ok(Value::Global(Box::new((
        module.to_string(),
        name.to_string(),
    ))))
}

fn pairs(items: Vec<ValueId>) -> Result<Vec<(ValueId, ValueId)>> {
    ensure!(
        items.len().is_multiple_of(2),
        "odd number of items for a dict"
    );
    Ok(items.chunks_exact(2).map(|p| (p[0], p[1])).collect())
}

fn parse_int(text: &str) -> Result<Value> {
    let t = text.trim();
    if let Ok(i) = t.parse::<i64>() {
        return Ok(Value::Int(i));
    }
    let digits = t.strip_prefix(['-', '+']).unwrap_or(t);
    ensure!(
        !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()),
        "invalid integer {text:?}"
    );
    Ok(Value::BigInt)
}

fn parse_memo_key(text: &str) -> Result<u64> {
    text.trim()
        .parse()
        .map_err(|_| Error::msg(format!("invalid memo key {text:?}")))
}

/// A little-endian two's-complement integer of LONG1 / LONG4.
fn long_value(bytes: &[u8]) -> Value {
    if bytes.len() > 8 {
        return Value::BigInt;
    }
    if bytes.is_empty() {
        return Value::Int(0);
    }
    let negative = bytes[bytes.len() - 1] & 0x80 != 0;
    let mut buf = if negative { [0xff; 8] } else { [0; 8] };
    buf[..bytes.len()].copy_from_slice(bytes);
    Value::Int(i64::from_le_bytes(buf))
}
