//! The pickle opcodes, by the names the pickle format gives them (protocols 0–5).

/// Protocol version.
pub const PROTO: u8 = 0x80;
/// Frame length (ignored).
pub const FRAME: u8 = 0x95;
/// End: the top of the stack is the result.
pub const STOP: u8 = 0x2e;
/// Push a mark.
pub const MARK: u8 = 0x28;
/// Discard the top.
pub const POP: u8 = 0x30;
/// Discard up to the mark.
pub const POP_MARK: u8 = 0x31;
/// Duplicate the top.
pub const DUP: u8 = 0x32;
/// None.
pub const NONE: u8 = 0x4e;
/// True.
pub const NEWTRUE: u8 = 0x88;
/// False.
pub const NEWFALSE: u8 = 0x89;
/// Decimal int line.
pub const INT: u8 = 0x49;
/// Decimal long line.
pub const LONG: u8 = 0x4c;
/// 4-byte signed int.
pub const BININT: u8 = 0x4a;
/// 1-byte unsigned int.
pub const BININT1: u8 = 0x4b;
/// 2-byte unsigned int.
pub const BININT2: u8 = 0x4d;
/// Long, 1-byte length.
pub const LONG1: u8 = 0x8a;
/// Long, 4-byte length.
pub const LONG4: u8 = 0x8b;
/// Decimal float line.
pub const FLOAT: u8 = 0x46;
/// 8-byte big-endian float.
pub const BINFLOAT: u8 = 0x47;
/// Quoted string line.
pub const STRING: u8 = 0x53;
/// Raw-unicode line.
pub const UNICODE: u8 = 0x56;
/// Bytes string, 4-byte length.
pub const BINSTRING: u8 = 0x54;
/// Bytes string, 1-byte length.
pub const SHORT_BINSTRING: u8 = 0x55;
/// UTF-8, 1-byte length.
pub const SHORT_BINUNICODE: u8 = 0x8c;
/// UTF-8, 4-byte length.
pub const BINUNICODE: u8 = 0x58;
/// UTF-8, 8-byte length.
pub const BINUNICODE8: u8 = 0x8d;
/// Bytes, 1-byte length.
pub const SHORT_BINBYTES: u8 = 0x43;
/// Bytes, 4-byte length.
pub const BINBYTES: u8 = 0x42;
/// Bytes, 8-byte length.
pub const BINBYTES8: u8 = 0x8e;
/// Bytearray, 8-byte length.
pub const BYTEARRAY8: u8 = 0x96;
/// ().
pub const EMPTY_TUPLE: u8 = 0x29;
/// Tuple from the mark.
pub const TUPLE: u8 = 0x74;
/// 1-tuple.
pub const TUPLE1: u8 = 0x85;
/// 2-tuple.
pub const TUPLE2: u8 = 0x86;
/// 3-tuple.
pub const TUPLE3: u8 = 0x87;
/// [].
pub const EMPTY_LIST: u8 = 0x5d;
/// List from the mark.
pub const LIST: u8 = 0x6c;
/// Append to a list.
pub const APPEND: u8 = 0x61;
/// Extend a list from the mark.
pub const APPENDS: u8 = 0x65;
/// {}.
pub const EMPTY_DICT: u8 = 0x7d;
/// Dict from the mark.
pub const DICT: u8 = 0x64;
/// Set one item.
pub const SETITEM: u8 = 0x73;
/// Set items from the mark.
pub const SETITEMS: u8 = 0x75;
/// Set().
pub const EMPTY_SET: u8 = 0x8f;
/// Add to a set from the mark.
pub const ADDITEMS: u8 = 0x90;
/// Frozenset from the mark.
pub const FROZENSET: u8 = 0x91;
/// Module and name lines.
pub const GLOBAL: u8 = 0x63;
/// Module and name from the stack.
pub const STACK_GLOBAL: u8 = 0x93;
/// Call.
pub const REDUCE: u8 = 0x52;
/// Set state.
pub const BUILD: u8 = 0x62;
/// Cls.__new__(cls, *args).
pub const NEWOBJ: u8 = 0x81;
/// Cls.__new__(cls, *args, **kwargs).
pub const NEWOBJ_EX: u8 = 0x92;
/// Instantiate a named class.
pub const INST: u8 = 0x69;
/// Instantiate from the mark.
pub const OBJ: u8 = 0x6f;
/// Extension registry, 1-byte code.
pub const EXT1: u8 = 0x82;
/// Extension registry, 2-byte code.
pub const EXT2: u8 = 0x83;
/// Extension registry, 4-byte code.
pub const EXT4: u8 = 0x84;
/// Persistent id line.
pub const PERSID: u8 = 0x50;
/// Persistent id from the stack.
pub const BINPERSID: u8 = 0x51;
/// Memo put, decimal key.
pub const PUT: u8 = 0x70;
/// Memo put, 1-byte key.
pub const BINPUT: u8 = 0x71;
/// Memo put, 4-byte key.
pub const LONG_BINPUT: u8 = 0x72;
/// Memo put, next key.
pub const MEMOIZE: u8 = 0x94;
/// Memo get, decimal key.
pub const GET: u8 = 0x67;
/// Memo get, 1-byte key.
pub const BINGET: u8 = 0x68;
/// Memo get, 4-byte key.
pub const LONG_BINGET: u8 = 0x6a;
/// Out-of-band buffer.
pub const NEXT_BUFFER: u8 = 0x97;
/// Out-of-band buffer, read-only.
pub const READONLY_BUFFER: u8 = 0x98;
