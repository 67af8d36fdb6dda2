//! The `avesa` binary's library half: wiring the seams together ([`app`]) and the demo
//! ([`demo`]), kept in a library so the end-to-end tests drive exactly what users run.

pub mod app;
pub mod demo;
