//! The `data.pkl` of a `torch.save` archive: a state dict (an `OrderedDict` of tensors over
//! persistent storages, pickle protocol 2), optionally nested in plain dicts.

use happyhorse_formats::pickle_opcodes::{
    BININT, BINPERSID, BINUNICODE, EMPTY_DICT, EMPTY_TUPLE, GLOBAL, LONG1, MARK, NEWFALSE, PROTO,
    REDUCE, SETITEM, SETITEMS, STOP, TUPLE,
};
use happyhorse_formats::storage_class;

use super::tensor::SynthTensor;

/// The pickle of the state dict of `tensors` (storage `i` holds tensor `i`), nested under
/// the keys of `dict_path` (`["ema_state_dict"]`: `{"ema_state_dict": OrderedDict(…)}`).
pub fn state_dict(tensors: &[SynthTensor], dict_path: &[&str]) -> Vec<u8> {
    let mut p = Pickler(vec![PROTO, 2]);
    for key in dict_path {
        p.0.push(EMPTY_DICT);
        p.str(key);
    }
    p.global("collections", "OrderedDict");
    p.0.extend([EMPTY_TUPLE, REDUCE, MARK]);
    for (i, t) in tensors.iter().enumerate() {
        p.str(&t.name);
        p.tensor(t, &i.to_string());
    }
    p.0.push(SETITEMS);
    p.0.extend(std::iter::repeat_n(SETITEM, dict_path.len()));
    p.0.push(STOP);
    p.0
}

struct Pickler(Vec<u8>);

impl Pickler {
    fn str(&mut self, s: &str) {
        self.0.push(BINUNICODE);
        self.0.extend((s.len() as u32).to_le_bytes());
        self.0.extend(s.as_bytes());
    }

    fn int(&mut self, v: u64) {
        if let Ok(small) = i32::try_from(v) {
            self.0.push(BININT);
            self.0.extend(small.to_le_bytes());
        } else {
            // Little-endian two's complement, with a zero byte keeping it positive.
            let bytes = v.to_le_bytes();
            let len = 8 - (v.leading_zeros() as usize / 8) + 1;
            self.0.extend([LONG1, len as u8]);
            self.0.extend(&bytes[..len.min(8)]);
            self.0.extend(std::iter::repeat_n(0, len.saturating_sub(8)));
        }
    }

    fn global(&mut self, module: &str, name: &str) {
        self.0.push(GLOBAL);
        self.0.extend(format!("{module}\n{name}\n").as_bytes());
    }

    fn tuple(&mut self, values: impl IntoIterator<Item = u64>) {
        self.0.push(MARK);
        for v in values {
            self.int(v);
        }
        self.0.push(TUPLE);
    }

    /// `_rebuild_tensor_v2(storage, 0, shape, contiguous strides, False, OrderedDict())`.
    fn tensor(&mut self, t: &SynthTensor, storage_key: &str) {
        self.global("torch._utils", "_rebuild_tensor_v2");
        self.0.push(MARK);
        self.0.push(MARK);
        self.str("storage");
        let class = storage_class(t.dtype).expect("made-up tensors are f32 or bf16");
        self.global("torch", class);
        self.str(storage_key);
        self.str("cpu");
        self.int(t.numel());
        self.0.extend([TUPLE, BINPERSID]);
        self.int(0);
        self.tuple(t.shape.iter().map(|&d| d as u64));
        let mut strides = vec![1u64; t.shape.len()];
        for i in (0..t.shape.len().saturating_sub(1)).rev() {
            strides[i] = strides[i + 1] * t.shape[i + 1] as u64;
        }
        self.tuple(strides);
        self.0.push(NEWFALSE);
        self.global("collections", "OrderedDict");
        self.0.extend([EMPTY_TUPLE, REDUCE, TUPLE, REDUCE]);
    }
}
