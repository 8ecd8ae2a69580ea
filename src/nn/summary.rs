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
        let line = "─".repeat(78);
        writeln!(f, "Model: \"{}\"", self.title)?;
        writeln!(f, "{line}")?;
        writeln!(f, "{:<46} {:<20} {:>10}", "Layer (type)", "Output Shape", "Param #")?;
        writeln!(f, "{}", "═".repeat(78))?;
        for r in &self.rows {
            let dims: Vec<String> = r.output.iter().map(|d| d.to_string()).collect();
            let shape = format!("(None, {})", dims.join(", "));
            writeln!(
                f,
                "{:<46} {:<20} {:>10}",
                format!("{} ({})", r.name, r.kind),
                shape,
                thousands(r.params)
            )?;
        }
        writeln!(f, "{}", "═".repeat(78))?;
        write!(f, "Total params: {}", thousands(self.total_params()))
    }
}
