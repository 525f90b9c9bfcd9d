//! The fixed parts of the zip format as PyTorch archives use it: record signatures, the
//! fixed lengths of the headers, and the one method (stored) its entries use.

/// End-of-central-directory record.
pub const EOCD_SIG: u32 = 0x0605_4b50;
/// Zip64 end-of-central-directory locator.
pub const EOCD64_LOCATOR_SIG: u32 = 0x0706_4b50;
/// Zip64 end-of-central-directory record.
pub const EOCD64_SIG: u32 = 0x0606_4b50;
/// Central directory file header.
pub const CENTRAL_SIG: u32 = 0x0201_4b50;
/// Local file header.
pub const LOCAL_SIG: u32 = 0x0403_4b50;
/// Bytes of an end-of-central-directory record without its comment.
pub const EOCD_LEN: usize = 22;
/// Bytes of a central directory header before its name.
pub const CENTRAL_LEN: usize = 46;
/// Bytes of a local header before its name.
pub const LOCAL_LEN: usize = 30;
/// Compression method of an entry stored as is.
pub const METHOD_STORED: u16 = 0;
