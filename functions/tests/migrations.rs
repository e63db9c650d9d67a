//! The SQLite and PostgreSQL migration sets must not drift: the same files, and the same
//! statements once the known dialect spellings are made equal. A column added to one dialect
//! only fails here, before it fails on the other database in production.

use std::collections::BTreeMap;
use std::path::Path;

/// Known dialect differences, PostgreSQL spelling → SQLite spelling.
const DIALECT: [(&str, &str); 2] = [
    ("BIGSERIAL PRIMARY KEY", "INTEGER PRIMARY KEY AUTOINCREMENT"),
    ("BYTEA", "BLOB"),
];

fn migrations(dialect: &str) -> BTreeMap<String, String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(dialect);
    std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&path).unwrap())
        })
        .collect()
}

/// Whitespace-insensitive, with the PostgreSQL spellings replaced by SQLite's.
fn normalized(sql: &str) -> Vec<String> {
    let mut sql = sql.to_owned();
    for (postgres, sqlite) in DIALECT {
        sql = sql.replace(postgres, sqlite);
    }
    sql.lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|line| !line.is_empty())
        .collect()
}

#[test]
fn sqlite_and_postgres_migrations_match_up_to_dialect() {
    let sqlite = migrations("sqlite");
    let postgres = migrations("postgres");
    assert!(!sqlite.is_empty());
    assert_eq!(
        sqlite.keys().collect::<Vec<_>>(),
        postgres.keys().collect::<Vec<_>>(),
        "both dialects have the same migration files"
    );
    for (name, text) in &sqlite {
        let (ours, theirs) = (normalized(text), normalized(&postgres[name]));
        for (i, (a, b)) in ours.iter().zip(&theirs).enumerate() {
            assert_eq!(
                a,
                b,
                "{name}, statement line {}: SQLite vs PostgreSQL",
                i + 1
            );
        }
        assert_eq!(ours.len(), theirs.len(), "{name}: line counts differ");
    }
}

#[test]
fn a_drifted_column_is_caught() {
    let sqlite = normalized("CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, b BLOB);");
    let postgres = normalized("CREATE TABLE t (id BIGSERIAL PRIMARY KEY, b BYTEA);");
    assert_eq!(sqlite, postgres);
    let drifted = normalized("CREATE TABLE t (id BIGSERIAL PRIMARY KEY, b BYTEA, c TEXT);");
    assert_ne!(sqlite, drifted);
}
