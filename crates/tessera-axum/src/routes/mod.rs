//! One module per resource; each handler carries its OpenAPI description.

pub mod discovery;
pub mod health;
pub mod me;
pub mod password;
pub mod session;
pub mod sessions;
pub mod token;
pub mod users;
pub mod verify;
