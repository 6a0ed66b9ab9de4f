//! The numbering plans libphonenumber knows, decoded region by region as
//! they are needed.
//!
//! `libphonenumber-9.0.42.bin` is Google's PhoneNumberMetadata.xml of
//! libphonenumber 9.0.42 as the `rlibphonenumber` crate compiles it (a
//! `PhoneMetadataCollection`, one record per region); a test holds it to the
//! crate's own copy. Decoding all 245 regions and building a util over them
//! takes milliseconds, at a function's first request; so the records are
//! indexed by calling code (a scan of their headers), and a util is built
//! over the calling codes in use only, grown when another is needed.

use rlibphonenumber::{PhoneMetadataCollection, PhoneNumberUtil};
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::sync::{Arc, LazyLock, Mutex};

const METADATA: &[u8] = include_bytes!("libphonenumber-9.0.42.bin");

/// The metadata's version, as the yardstick's `phonenumbers` must match it.
pub const METADATA_VERSION: &str = "9.0.42";

/// The byte ranges of each calling code's region records in `METADATA`.
static RECORDS: LazyLock<BTreeMap<u16, Vec<Range<usize>>>> = LazyLock::new(index);

/// The util over the calling codes loaded so far.
static LOADED: Mutex<Option<(BTreeSet<u16>, Arc<PhoneNumberUtil>)>> = Mutex::new(None);

/// Every calling code of a geographic region.
pub fn calling_codes() -> impl Iterator<Item = u16> {
    RECORDS.keys().copied()
}

/// Whether `code` is a calling code of a region.
pub fn is_calling_code(code: u16) -> bool {
    RECORDS.contains_key(&code)
}

/// A util that knows at least the regions of `codes` (unknown codes
/// ignored).
pub fn util_for(codes: &BTreeSet<u16>) -> Arc<PhoneNumberUtil> {
    let mut loaded = LOADED.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((known, util)) = loaded.as_ref()
        && known.is_superset(codes)
    {
        return util.clone();
    }
    let mut wanted: BTreeSet<u16> = loaded.as_ref().map(|(k, _)| k.clone()).unwrap_or_default();
    wanted.extend(codes.iter().filter(|c| is_calling_code(**c)));
    let util = Arc::new(build(&wanted));
    *loaded = Some((wanted, util.clone()));
    util
}

/// A util over every region: for a number of a calling code no one asked
/// for, on an error path.
pub fn util_for_all() -> Arc<PhoneNumberUtil> {
    util_for(&calling_codes().collect())
}

fn build(codes: &BTreeSet<u16>) -> PhoneNumberUtil {
    // A collection's records one after the other are a collection.
    let mut records = Vec::new();
    for code in codes {
        for range in RECORDS.get(code).into_iter().flatten() {
            records.extend_from_slice(&METADATA[range.clone()]);
        }
    }
    let collection = <PhoneMetadataCollection as prost::Message>::decode(records.as_slice())
        .expect("the embedded metadata decodes");
    PhoneNumberUtil::new_for_metadata(collection).expect("the embedded metadata names its regions")
}

/// Protobuf's wire format, as much as the index needs of it.
mod wire {
    /// A field's value: a varint's, where a length-delimited one's bytes
    /// start, or a fixed-size one's.
    pub enum Value {
        Varint(u64),
        Bytes { start: usize },
        Fixed,
    }

    /// The varint at `at`, and where it ends.
    fn varint(bytes: &[u8], mut at: usize) -> Option<(u64, usize)> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *bytes.get(at)?;
            at += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some((value, at));
            }
        }
        None
    }

    /// The field at `at`: its number, its value, and where it ends.
    pub fn field(bytes: &[u8], at: usize) -> Option<(u64, Value, usize)> {
        let (key, at) = varint(bytes, at)?;
        let after = |len: usize| at.checked_add(len);
        let (value, end) = match key & 7 {
            0 => {
                let (value, end) = varint(bytes, at)?;
                (Value::Varint(value), end)
            }
            1 => (Value::Fixed, after(8)?),
            2 => {
                let (len, start) = varint(bytes, at)?;
                let end = start.checked_add(usize::try_from(len).ok()?)?;
                (Value::Bytes { start }, end)
            }
            5 => (Value::Fixed, after(4)?),
            _ => return None,
        };
        (end <= bytes.len()).then_some((key >> 3, value, end))
    }
}

/// `PhoneMetadataCollection.metadata` is field 1; `PhoneMetadata.country_code`
/// field 10 (resources/phonemetadata.proto of the crate).
const METADATA_FIELD: u64 = 1;
const COUNTRY_CODE_FIELD: u64 = 10;

/// Each record's calling code, read from its header without decoding it:
/// every record, the non-geographic entities' (international freephone and
/// the like) included.
fn index() -> BTreeMap<u16, Vec<Range<usize>>> {
    let mut records: BTreeMap<u16, Vec<Range<usize>>> = BTreeMap::new();
    let mut at = 0;
    while at < METADATA.len() {
        let Some((METADATA_FIELD, wire::Value::Bytes { start }, end)) = wire::field(METADATA, at)
        else {
            panic!("the embedded metadata holds records only");
        };
        let mut inner = start;
        let mut code = None;
        while inner < end {
            let (field, value, next) = wire::field(METADATA, inner).expect("a well-formed record");
            if let (COUNTRY_CODE_FIELD, wire::Value::Varint(value)) = (field, value) {
                code = u16::try_from(value).ok();
            }
            inner = next;
        }
        if let Some(code) = code {
            records.entry(code).or_default().push(at..end);
        }
        at = end;
    }
    records
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_index_finds_every_region_by_its_calling_code() {
        let total: usize = RECORDS.values().map(Vec::len).sum();
        // 245 regions and the non-geographic entities' records.
        assert!(total >= 245, "{total} records");
        assert_eq!(RECORDS[&66].len(), 1, "Thailand");
        assert_eq!(RECORDS[&84].len(), 1, "Vietnam");
        assert!(RECORDS[&1].len() > 20, "the North American numbering plan");
        assert!(RECORDS[&44].len() >= 4, "GB, GG, IM, JE");
        assert!(!is_calling_code(999));
    }

    #[test]
    fn a_util_knows_the_regions_asked_for_and_grows() {
        let th = util_for(&BTreeSet::from([66]));
        assert!(th.get_region_for_country_code(66).is_some());
        let both = util_for(&BTreeSet::from([84]));
        assert!(both.get_region_for_country_code(66).is_some());
        assert!(both.get_region_for_country_code(84).is_some());
    }

    /// The embedded metadata is the crate's own (a new release of the crate
    /// must bring its metadata here too, and the yardstick's version).
    #[test]
    fn the_embedded_metadata_is_the_crates() {
        let cargo = std::env::var("CARGO").expect("run by cargo");
        // This machine's platform: offline, cargo resolves the packages of
        // one platform only (the others' may not be downloaded).
        let rustc = std::path::Path::new(&cargo).with_file_name("rustc");
        let version = std::process::Command::new(rustc)
            .arg("-vV")
            .output()
            .unwrap();
        let version = String::from_utf8(version.stdout).unwrap();
        let host = version
            .lines()
            .find_map(|l| l.strip_prefix("host: "))
            .unwrap();
        let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
        let out = std::process::Command::new(&cargo)
            .args(["metadata", "--format-version", "1", "--offline"])
            .args(["--filter-platform", host, "--manifest-path", manifest])
            .output()
            .expect("cargo metadata runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let metadata: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let package = metadata["packages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "rlibphonenumber")
            .expect("rlibphonenumber is a dependency");
        let manifest_path = package["manifest_path"].as_str().unwrap();
        let crate_dir = std::path::Path::new(manifest_path).parent().unwrap();
        let theirs = std::fs::read(crate_dir.join("src/generated/metadata/metadata.bin")).unwrap();
        assert!(
            theirs == METADATA,
            "libphonenumber-9.0.42.bin is not the crate's"
        );
        assert_eq!(
            package["version"], "2.2.15",
            "the crate of libphonenumber 9.0.42"
        );
    }
}
