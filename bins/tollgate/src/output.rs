//! Human output: tables, money, colour (only on a terminal, and never with
//! `NO_COLOR`), and JSON for scripts.

use std::io::{IsTerminal, Write};
use std::sync::OnceLock;

use comfy_table::{CellAlignment, ColumnConstraint, ContentArrangement, Table};
use rust_decimal::Decimal;
use serde::Serialize;

/// Whether stdout gets colour.
pub fn colour() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| {
        std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
    })
}

/// Whether stderr gets colour (reasoning, notes in a chat session).
pub fn colour_err() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| {
        std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
    })
}

/// Dim text for stderr.
pub fn dim_err(s: &str) -> String {
    paint_if(colour_err(), "2", s)
}

/// Bold text for stderr.
pub fn bold_err(s: &str) -> String {
    paint_if(colour_err(), "1", s)
}

fn paint_if(on: bool, code: &str, s: &str) -> String {
    if on {
        format!("\x1b[{code}m{s}\x1b[0m")
    } else {
        s.to_string()
    }
}

fn paint(code: &str, s: &str) -> String {
    if colour() {
        format!("\x1b[{code}m{s}\x1b[0m")
    } else {
        s.to_string()
    }
}

/// Bold text.
pub fn bold(s: &str) -> String {
    paint("1", s)
}

/// Dim text.
pub fn dim(s: &str) -> String {
    paint("2", s)
}

/// Green text.
pub fn green(s: &str) -> String {
    paint("32", s)
}

/// Prints `value` as pretty JSON.
pub fn json<T: Serialize + ?Sized>(value: &T) -> anyhow::Result<()> {
    // Rendered first, so that a failed write is an `io::Error` (a closed
    // pipe is recognised as one), not a serde_json error.
    let mut text = serde_json::to_vec_pretty(value)?;
    text.push(b'\n');
    std::io::stdout().lock().write_all(&text)?;
    Ok(())
}

/// Prints `{"data": value}`, the API's envelope.
pub fn json_data<T: Serialize + ?Sized>(value: &T) -> anyhow::Result<()> {
    json(&serde_json::json!({ "data": value }))
}

/// A plain table: a bold header, columns two spaces apart, no borders;
/// columns in `right` are right-aligned.
pub fn table(header: &[&str], rows: Vec<Vec<String>>, right: &[usize]) -> String {
    let mut t = Table::new();
    t.load_style(comfy_table::presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(header.to_vec());
    for row in rows {
        t.add_row(row);
    }
    let last = t.column_count().saturating_sub(1);
    for (i, col) in t.column_iter_mut().enumerate() {
        col.set_constraint(ColumnConstraint::ContentWidth);
        col.set_padding((0, if i == last { 0 } else { 2 }));
        if right.contains(&i) {
            col.set_cell_alignment(CellAlignment::Right);
        }
    }
    // Styled after layout: the table would count escape codes as width.
    t.lines()
        .enumerate()
        .map(|(i, l)| {
            let l = l.trim_end();
            if i == 0 { bold(l) } else { l.to_string() }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Prints a table (and a final newline).
pub fn print_table(header: &[&str], rows: Vec<Vec<String>>, right: &[usize]) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if rows.is_empty() {
        writeln!(out, "{}", dim("(none)"))?;
        return Ok(());
    }
    writeln!(out, "{}", table(header, rows, right))?;
    Ok(())
}

/// Prints `label: value` lines, labels aligned.
pub fn print_fields(fields: &[(&str, String)]) -> anyhow::Result<()> {
    let width = fields.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    let mut out = std::io::stdout().lock();
    for (k, v) in fields {
        writeln!(out, "{}  {v}", bold(&format!("{k:<width$}")))?;
    }
    Ok(())
}

/// A USD per-token price as USD per million tokens (`0.000001` → `1`).
pub fn per_million(price: Decimal) -> String {
    (price * Decimal::from(1_000_000)).normalize().to_string()
}

/// USD for humans: `$1.50`, with more places for amounts under a cent.
pub fn usd(amount: Decimal) -> String {
    let places = if amount.is_zero() || amount.abs() >= Decimal::new(1, 2) {
        2
    } else {
        6
    };
    format!("${:.*}", places as usize, amount.round_dp(places))
}

/// An optional USD amount, `-` for none.
pub fn usd_opt(amount: Option<Decimal>, none: &str) -> String {
    amount.map_or_else(|| none.to_string(), usd)
}

/// A bar of `value / max` over `width` cells.
pub fn bar(value: f64, max: f64, width: usize) -> String {
    if max <= 0.0 || value <= 0.0 {
        return String::new();
    }
    let eighths = ((value / max) * (width * 8) as f64).round() as usize;
    let full = eighths / 8;
    let part = eighths % 8;
    let mut s = "█".repeat(full);
    if part > 0 {
        s.push(['▏', '▎', '▍', '▌', '▋', '▊', '▉'][part - 1]);
    }
    if s.is_empty() {
        s.push('▏');
    }
    s
}
