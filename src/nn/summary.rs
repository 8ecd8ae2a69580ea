//! Keras-like model summaries.

/// One row of a [`Summary`].
#[derive(Debug, Clone)]
pub struct SummaryRow {
    pub name: String,
    pub kind: &'static str,
    /// Output shape without the batch dimension.
    pub output: Vec<usize>,
    pub params: usize,
}

impl SummaryRow {
    /// The row of a model's input.
    pub fn input(shape: &[usize]) -> Self {
        SummaryRow {
            name: "input".into(),
            kind: "InputLayer",
            output: shape.to_vec(),
            params: 0,
        }
    }
}

/// A Keras-like model summary: layers, output shapes, weight counts.
#[derive(Debug, Clone)]
pub struct Summary {
    pub title: String,
    pub rows: Vec<SummaryRow>,
}

impl Summary {
    /// Total trainable weights.
    pub fn total_params(&self) -> usize {
        self.rows.iter().map(|r| r.params).sum()
    }

    /// Shows the summary as text in a notebook.
    pub fn evcxr_display(&self) {
        println!("{self}");
    }
}

/// `50992` → `50,992`.
fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let rows: Vec<(String, String)> = self
            .rows
            .iter()
            .map(|r| {
                let dims: Vec<String> = r.output.iter().map(|d| d.to_string()).collect();
                (
                    format!("{} ({})", r.name, r.kind),
                    format!("(None, {})", dims.join(", ")),
                )
            })
            .collect();
        // The layer column grows with the longest name, as Keras' does.
        let name_w = rows.iter().map(|r| r.0.chars().count()).max().unwrap_or(0).max(46);
        let shape_w = rows.iter().map(|r| r.1.chars().count()).max().unwrap_or(0).max(20);
        let total_w = name_w + shape_w + 12;
        writeln!(f, "Model: \"{}\"", self.title)?;
        writeln!(f, "{}", "─".repeat(total_w))?;
        writeln!(
            f,
            "{:<name_w$} {:<shape_w$} {:>10}",
            "Layer (type)", "Output Shape", "Param #"
        )?;
        writeln!(f, "{}", "═".repeat(total_w))?;
        for ((name, shape), r) in rows.iter().zip(&self.rows) {
            writeln!(f, "{name:<name_w$} {shape:<shape_w$} {:>10}", thousands(r.params))?;
        }
        writeln!(f, "{}", "═".repeat(total_w))?;
        write!(f, "Total params: {}", thousands(self.total_params()))
    }
}
