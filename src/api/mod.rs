//! The Pulumi service protocol: request and response bodies as the CLI sends and reads them
//! (`sdk/go/common/apitype`), and the rules on their contents.

pub mod stacks;
pub mod tags;
pub mod updates;
pub mod user;
