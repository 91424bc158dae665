//! usocket's socket-server in the core (placeholder until the server lands).

use std::net::SocketAddr;

use crate::error::{Error, Result};

pub struct Server {
    _private: (),
}

impl Server {
    pub fn close(&self) {}

    pub fn local_addr(&self) -> Result<SocketAddr> {
        Err(Error::new(crate::error::USOCKET_ERR_OPERATION_NOT_SUPPORTED, "servers are not implemented yet"))
    }
}
