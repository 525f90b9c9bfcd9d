//! What the interpreter does instead of calling: `REDUCE`, `NEWOBJ`, `BUILD` and friends
//! on a class reference build plain values (dicts, tensors over persistent-id storages) or
//! an opaque value; nothing is ever run.

use super::machine::Machine;
use super::{StorageRef, TensorRef, Value, ValueId, MAX_DIMS, MAX_NAME, MAX_REBUILD_NESTING};
use crate::{bail, ensure, Error, Result};

impl Machine<'_> {
    pub(super) fn global_name(&self, id: ValueId) -> Option<(&str, &str)> {
        match &self.values[id] {
            Value::Global(g) => Some((g.0.as_str(), g.1.as_str())),
            _ => None,
        }
    }

    pub(super) fn tuple_items(&self, id: ValueId) -> Option<&[ValueId]> {
        match &self.values[id] {
            Value::Tuple(items) => Some(items),
            _ => None,
        }
    }

    /// REDUCE: the few known constructors build values; any other call is opaque.
    pub(super) fn call(&mut self, mut func: ValueId, mut args: ValueId) -> Result<()> {
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
    pub(super) fn build_call(
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
    pub(super) fn instance(&self, cls: ValueId) -> Value {
        match self.global_name(cls) {
            Some((module, name)) => Value::Opaque(format!("an instance of {module}.{name}")),
            None => Value::Opaque("an instance of an unknown class".into()),
        }
    }

    pub(super) fn rebuild_tensor(&self, args: &[ValueId]) -> Result<TensorRef> {
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

    pub(super) fn non_negative(&self, id: ValueId) -> Result<u64> {
        match self.values[id] {
            Value::Int(i) if i >= 0 => Ok(i as u64),
            _ => bail!("expected a non-negative int, found {}", self.describe(id)),
        }
    }

    pub(super) fn int_tuple(&self, id: ValueId) -> Result<Vec<u64>> {
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
    pub(super) fn persistent_load(&self, pid: ValueId) -> Value {
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
