//! Text from outside made safe to show.

/// Text from a finding made safe to show: control characters (line breaks, escapes)
/// replaced, length bounded.
pub fn safe_text(s: &str, max_chars: usize) -> String {
    let mut out: String = s
        .chars()
        .take(max_chars)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if s.chars().count() > max_chars {
        out.push('…');
    }
    out
}

/// Printable ASCII only, on one line (for the SNS subject and attributes).
pub fn ascii_line(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '—' | '–' => '-',
            c if c.is_ascii_graphic() || c == ' ' => c,
            _ => '?',
        })
        .collect()
}
