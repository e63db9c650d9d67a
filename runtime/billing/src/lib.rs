//! Billing: prices, monthly statements from the hourly rollups, budgets and their enforcement.
//! It reads the store's rows and knows prices; it knows no wasm engine, HTTP or Kafka.

mod config;
mod guard;
mod month;
mod prices;
mod statement;

pub use config::BillingConfig;
pub use guard::{BudgetGuard, BudgetRefusal, month_to_date_usd};
pub use month::{InvalidMonth, Month};
pub use prices::{PriceTable, Quantities};
pub use statement::{
    Advice, BudgetState, BudgetStatus, Line, Statement, VersionLine, WARNING_RATIO, build,
    version_lines,
};
