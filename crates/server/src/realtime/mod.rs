//! Real-time delivery: the hub of open WebSocket connections, the broker that feeds it, and the
//! connection task speaking the seed's protocol.

pub mod broker;
pub mod hub;

pub use broker::{Broker, Event, LocalBroker};
pub use hub::Hub;
