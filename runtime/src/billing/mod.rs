//! Billing: prices, monthly statements from the hourly rollups, budgets and their enforcement.

mod guard;
mod month;
mod prices;
mod statement;

pub use guard::{BudgetGuard, BudgetRefusal, month_to_date_usd};
pub use month::{InvalidMonth, Month};
pub use prices::{PriceTable, Quantities};
pub use statement::{Advice, BudgetState, BudgetStatus, Line, Statement, WARNING_RATIO, build};
