//! Pure rules of the service. Nothing here does I/O; time and randomness come
//! in as arguments.

pub mod address;
pub mod authorization;
pub mod challenge;
pub mod client;
pub mod code;
pub mod delivery;
pub mod keys;
pub mod limits;
pub mod phone;
pub mod pow;
pub mod provider;
pub mod refresh;
pub mod sms_text;
pub mod user;
