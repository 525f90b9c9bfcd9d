//! The interpreter's stack machine: the opcode loop and the stack, memo and mark
//! bookkeeping. Calls and instantiations are in `calls.rs`.

use std::collections::HashMap;

use super::opcodes as op;
use super::{describe_value, Value, ValueId, MAX_NAME};
use crate::{bail, ensure, Error, Result};

pub(super) struct Machine<'a> {
    pub(super) input: &'a [u8],
    pub(super) pos: usize,
    pub(super) values: Vec<Value>,
    pub(super) stack: Vec<ValueId>,
    pub(super) marks: Vec<usize>,
    pub(super) memo: HashMap<u64, ValueId>,
}

impl<'a> Machine<'a> {
    pub(super) fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        ensure!(
            n <= self.input.len() - self.pos,
            "truncated: {n} bytes wanted, {} left",
            self.input.len() - self.pos
        );
        let s = &self.input[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    pub(super) fn take_array<const N: usize>(&mut self) -> Result<[u8; N]> {
        Ok(self.take(N)?.try_into().expect("N bytes"))
    }

    pub(super) fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    pub(super) fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_le_bytes(self.take_array()?))
    }

    pub(super) fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take_array()?))
    }

    pub(super) fn len8(&mut self) -> Result<usize> {
        let n = u64::from_le_bytes(self.take_array()?);
        usize::try_from(n).map_err(|_| Error::msg(format!("length {n} is too large")))
    }

    /// A text line (without its newline), as protocol 0 opcodes carry.
    pub(super) fn line(&mut self) -> Result<&'a str> {
        let rest = &self.input[self.pos..];
        let n = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| Error::msg("truncated: unterminated text line"))?;
        self.pos += n + 1;
        std::str::from_utf8(&rest[..n]).map_err(|_| Error::msg("text line is not UTF-8"))
    }

    pub(super) fn new_value(&mut self, v: Value) -> ValueId {
        self.values.push(v);
        self.values.len() - 1
    }

    pub(super) fn push(&mut self, v: Value) {
        let id = self.new_value(v);
        self.stack.push(id);
    }

    pub(super) fn pop(&mut self) -> Result<ValueId> {
        let floor = self.marks.last().copied().unwrap_or(0);
        ensure!(self.stack.len() > floor, "stack underflow");
        Ok(self.stack.pop().expect("non-empty"))
    }

    pub(super) fn top(&self) -> Result<ValueId> {
        let floor = self.marks.last().copied().unwrap_or(0);
        ensure!(self.stack.len() > floor, "stack underflow");
        Ok(*self.stack.last().expect("non-empty"))
    }

    pub(super) fn pop_mark(&mut self) -> Result<Vec<ValueId>> {
        let mark = self
            .marks
            .pop()
            .ok_or_else(|| Error::msg("no MARK on the stack"))?;
        Ok(self.stack.split_off(mark))
    }

    pub(super) fn str_of(&self, id: ValueId) -> Option<&str> {
        match &self.values[id] {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// PUT, BINPUT, LONG_BINPUT, MEMOIZE: stores the top of the stack under the opcode's
    /// memo key.
    fn memo_put(&mut self, code: u8) -> Result<()> {
        let key = self.memo_key(code)?;
        let id = self.top()?;
        self.memo.insert(key, id);
        Ok(())
    }

    /// GET, BINGET, LONG_BINGET: pushes the value stored under the opcode's memo key.
    fn memo_get(&mut self, code: u8) -> Result<()> {
        let key = self.memo_key(code)?;
        let id = *self
            .memo
            .get(&key)
            .ok_or_else(|| Error::msg(format!("memo key {key} was never stored")))?;
        self.stack.push(id);
        Ok(())
    }

    pub(super) fn run(&mut self) -> Result<ValueId> {
        loop {
            let code = self.u8()?;
            if code == op::STOP {
                return self.pop();
            }
            let known = self.control(code)?
                || self.scalar(code)?
                || self.container(code)?
                || self.object(code)?;
            if !known {
                match code {
                    op::NEXT_BUFFER | op::READONLY_BUFFER => {
                        bail!("out-of-band buffers are not supported")
                    }
                    other => bail!("unknown opcode 0x{other:02x}"),
                }
            }
        }
    }

    /// Protocol, framing, marks, the stack and the memo; `false` when `code` is not one of them.
    fn control(&mut self, code: u8) -> Result<bool> {
        match code {
            op::PROTO => {
                let proto = self.u8()?;
                ensure!(proto <= 5, "unsupported pickle protocol {proto}");
            }
            op::FRAME => {
                self.take(8)?;
            }
            op::MARK => self.marks.push(self.stack.len()),
            op::POP => {
                if self.stack.len() > self.marks.last().copied().unwrap_or(0) {
                    self.stack.pop();
                } else {
                    self.pop_mark()?;
                }
            }
            op::POP_MARK => {
                self.pop_mark()?;
            }
            op::DUP => {
                let id = self.top()?;
                self.stack.push(id);
            }
            op::PUT | op::BINPUT | op::LONG_BINPUT | op::MEMOIZE => self.memo_put(code)?,
            op::GET | op::BINGET | op::LONG_BINGET => self.memo_get(code)?,
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Numbers, strings and bytes; `false` when `code` is not one of them.
    fn scalar(&mut self, code: u8) -> Result<bool> {
        match code {
            op::NONE => self.push(Value::None),
            op::NEWTRUE => self.push(Value::Bool(true)),
            op::NEWFALSE => self.push(Value::Bool(false)),
            op::INT => {
                let v = match self.line()? {
                    "00" => Value::Bool(false),
                    "01" => Value::Bool(true),
                    text => parse_int(text)?,
                };
                self.push(v);
            }
            op::LONG => {
                let text = self.line()?;
                let v = parse_int(text.strip_suffix('L').unwrap_or(text))?;
                self.push(v);
            }
            op::BININT | op::BININT1 | op::BININT2 => {
                let v = match code {
                    op::BININT => i64::from(i32::from_le_bytes(self.take_array()?)),
                    op::BININT1 => i64::from(self.u8()?),
                    _ => i64::from(self.u16()?),
                };
                self.push(Value::Int(v));
            }
            op::LONG1 | op::LONG4 => {
                let n = self.operand_len(code)?;
                let v = long_value(self.take(n)?);
                self.push(v);
            }
            op::FLOAT => {
                let text = self.line()?;
                let f = text
                    .trim()
                    .parse()
                    .map_err(|_| Error::msg(format!("invalid FLOAT {text:?}")))?;
                self.push(Value::Float(f));
            }
            op::BINFLOAT => {
                let f = f64::from_be_bytes(self.take_array()?);
                self.push(Value::Float(f));
            }
            op::STRING => {
                let text = self.line()?;
                let inner = text
                    .strip_prefix(['\'', '"'])
                    .and_then(|t| t.strip_suffix(['\'', '"']))
                    .ok_or_else(|| Error::msg("STRING is not quoted"))?;
                self.push(Value::Str(inner.to_string()));
            }
            op::UNICODE => {
                let text = self.line()?;
                self.push(Value::Str(text.to_string()));
            }
            op::BINSTRING
            | op::SHORT_BINSTRING
            | op::SHORT_BINUNICODE
            | op::BINUNICODE
            | op::BINUNICODE8 => self.push_str(code)?,
            op::SHORT_BINBYTES | op::BINBYTES | op::BINBYTES8 | op::BYTEARRAY8 => {
                self.push_bytes(code)?
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Tuples, lists, dicts and sets; `false` when `code` is not one of them.
    fn container(&mut self, code: u8) -> Result<bool> {
        match code {
            op::EMPTY_TUPLE => self.push(Value::Tuple(Vec::new())),
            op::TUPLE => {
                let items = self.pop_mark()?;
                self.push(Value::Tuple(items));
            }
            op::TUPLE1 | op::TUPLE2 | op::TUPLE3 => {
                let n = (code - op::TUPLE1 + 1) as usize;
                let mut items = vec![0; n];
                for slot in items.iter_mut().rev() {
                    *slot = self.pop()?;
                }
                self.push(Value::Tuple(items));
            }
            op::EMPTY_LIST => self.push(Value::List(Vec::new())),
            op::LIST => {
                let items = self.pop_mark()?;
                self.push(Value::List(items));
            }
            op::APPEND => {
                let item = self.pop()?;
                self.extend(vec![item])?;
            }
            op::APPENDS => {
                let items = self.pop_mark()?;
                self.extend(items)?;
            }
            op::EMPTY_DICT => self.push(Value::Dict(Vec::new())),
            op::DICT => {
                let items = self.pop_mark()?;
                let pairs = pairs(items)?;
                self.push(Value::Dict(pairs));
            }
            op::SETITEM => {
                let value = self.pop()?;
                let key = self.pop()?;
                self.set_items(vec![(key, value)])?;
            }
            op::SETITEMS => {
                let items = self.pop_mark()?;
                let pairs = pairs(items)?;
                self.set_items(pairs)?;
            }
            op::EMPTY_SET => self.push(Value::Set(Vec::new())),
            op::ADDITEMS => {
                let items = self.pop_mark()?;
                self.extend(items)?;
            }
            op::FROZENSET => {
                let items = self.pop_mark()?;
                self.push(Value::Set(items));
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Globals, calls, instances, extensions and persistent ids; `false` when `code` is not one of them.
    fn object(&mut self, code: u8) -> Result<bool> {
        match code {
            op::GLOBAL => {
                let module = self.line()?;
                let name = self.line()?;
                self.push_global(module, name)?;
            }
            op::STACK_GLOBAL => {
                let name = self.pop()?;
                let module = self.pop()?;
                let (Some(module), Some(name)) = (self.str_of(module), self.str_of(name)) else {
                    bail!("STACK_GLOBAL needs two strings");
                };
                let global = global_value(module, name)?;
                self.push(global);
            }
            op::REDUCE => {
                let args = self.pop()?;
                let func = self.pop()?;
                self.call(func, args)?;
            }
            op::BUILD => {
                // The state of an object is not applied: the object stays as it was built.
                self.pop()?;
                self.top()?;
            }
            op::NEWOBJ => {
                self.pop()?;
                let cls = self.pop()?;
                let v = self.instance(cls);
                self.push(v);
            }
            op::NEWOBJ_EX => {
                self.pop()?;
                self.pop()?;
                let cls = self.pop()?;
                let v = self.instance(cls);
                self.push(v);
            }
            op::INST => {
                let module = self.line()?.to_string();
                let name = self.line()?.to_string();
                self.pop_mark()?;
                self.push(Value::Opaque(format!("an instance of {module}.{name}")));
            }
            op::OBJ => {
                let items = self.pop_mark()?;
                let cls = *items
                    .first()
                    .ok_or_else(|| Error::msg("OBJ without a class"))?;
                let v = self.instance(cls);
                self.push(v);
            }
            op::EXT1 | op::EXT2 | op::EXT4 => {
                let ext = match code {
                    op::EXT1 => u32::from(self.u8()?),
                    op::EXT2 => u32::from(self.u16()?),
                    _ => self.u32()?,
                };
                self.push(Value::Opaque(format!("extension {ext}")));
            }
            op::PERSID => {
                let pid = self.line()?;
                self.push(Value::Opaque(format!("persistent id {pid:?}")));
            }
            op::BINPERSID => {
                let pid = self.pop()?;
                let v = self.persistent_load(pid);
                self.push(v);
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The memo key operand of a PUT or GET opcode: a decimal line, one byte or four bytes;
    /// MEMOIZE's key is the memo's size.
    fn memo_key(&mut self, code: u8) -> Result<u64> {
        match code {
            op::PUT | op::GET => parse_memo_key(self.line()?),
            op::BINPUT | op::BINGET => Ok(self.u8()?.into()),
            op::LONG_BINPUT | op::LONG_BINGET => Ok(self.u32()?.into()),
            op::MEMOIZE => Ok(self.memo.len() as u64),
            other => bail!("opcode 0x{other:02x} has no memo key"),
        }
    }

    /// The byte count that precedes the operand of a counted opcode (strings, bytes, long
    /// integers): one byte, four bytes (signed for BINSTRING) or eight.
    fn operand_len(&mut self, code: u8) -> Result<usize> {
        match code {
            op::SHORT_BINSTRING | op::SHORT_BINUNICODE | op::SHORT_BINBYTES | op::LONG1 => {
                Ok(self.u8()?.into())
            }
            op::BINUNICODE | op::BINBYTES | op::LONG4 => Ok(self.u32()? as usize),
            op::BINSTRING => {
                let n = i32::from_le_bytes(self.take_array()?);
                ensure!(n >= 0, "negative BINSTRING length");
                Ok(n as usize)
            }
            op::BINUNICODE8 | op::BINBYTES8 | op::BYTEARRAY8 => self.len8(),
            other => bail!("opcode 0x{other:02x} has no length operand"),
        }
    }

    pub(super) fn push_global(&mut self, module: &str, name: &str) -> Result<()> {
        let global = global_value(module, name)?;
        self.push(global);
        Ok(())
    }

    /// A counted string opcode: pushes its operand as a str (invalid UTF-8 replaced).
    fn push_str(&mut self, code: u8) -> Result<()> {
        let n = self.operand_len(code)?;
        let s = String::from_utf8_lossy(self.take(n)?).into_owned();
        self.push(Value::Str(s));
        Ok(())
    }

    /// A counted bytes or bytearray opcode: pushes its operand as bytes.
    fn push_bytes(&mut self, code: u8) -> Result<()> {
        let n = self.operand_len(code)?;
        let b = self.take(n)?.to_vec();
        self.push(Value::Bytes(b));
        Ok(())
    }

    /// APPEND(S) / ADDITEMS onto the list or set at the top of the stack.
    pub(super) fn extend(&mut self, items: Vec<ValueId>) -> Result<()> {
        let target = self.top()?;
        match &mut self.values[target] {
            Value::List(v) | Value::Set(v) => v.extend(items),
            Value::Opaque(_) => {}
            _ => bail!("cannot append to {}", self.describe(target)),
        }
        Ok(())
    }

    /// SETITEM(S) onto the dict at the top of the stack.
    pub(super) fn set_items(&mut self, items: Vec<(ValueId, ValueId)>) -> Result<()> {
        let target = self.top()?;
        match &mut self.values[target] {
            Value::Dict(v) => v.extend(items),
            Value::Opaque(_) => {}
            _ => bail!("cannot set items of {}", self.describe(target)),
        }
        Ok(())
    }

    pub(super) fn describe(&self, id: ValueId) -> String {
        describe_value(&self.values[id])
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
