//! The recognizer's output alphabet.
//!
//! PP-OCR rec models carry their dictionary in the ONNX metadata key `character`, one symbol
//! per line. The network's class axis is `[blank, dict..., space]`: index 0 is the CTC blank
//! and the last class is an extra space the dictionary does not list.

use crate::RecognizeError;

/// Class index → symbol table of a CTC recognizer.
#[derive(Debug, Clone)]
pub struct Charset {
    /// `symbols[i]` is the text of class `i`; `symbols[0]` (the blank) is empty.
    symbols: Vec<String>,
}

impl Charset {
    /// Builds the table from the newline-separated dictionary stored in a model's metadata.
    pub fn from_dictionary(dictionary: &str) -> Result<Self, RecognizeError> {
        let mut symbols = vec![String::new()];
        for line in dictionary.split('\n') {
            let line = line.strip_suffix('\r').unwrap_or(line);
            symbols.push(line.to_string());
        }
        // A trailing newline leaves one empty entry that is not a class.
        if symbols.len() > 1 && symbols.last().is_some_and(|s| s.is_empty()) {
            symbols.pop();
        }
        if symbols.len() < 2 {
            return Err(RecognizeError::Charset("the dictionary is empty".into()));
        }
        symbols.push(" ".to_string());
        Ok(Self { symbols })
    }

    /// Number of classes, blank and space included.
    pub fn len(&self) -> usize {
        self.symbols.len()
    }

    /// Always false: a charset holds at least the blank, one symbol and the space.
    pub fn is_empty(&self) -> bool {
        self.symbols.is_empty()
    }

    /// The text of class `index`, or `None` outside the table.
    pub fn symbol(&self, index: usize) -> Option<&str> {
        self.symbols.get(index).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_first_space_last() {
        let c = Charset::from_dictionary("a\nb\n中\n").unwrap();
        assert_eq!(c.len(), 5);
        assert_eq!(c.symbol(0), Some(""));
        assert_eq!(c.symbol(1), Some("a"));
        assert_eq!(c.symbol(3), Some("中"));
        assert_eq!(c.symbol(4), Some(" "));
        assert_eq!(c.symbol(5), None);
    }

    #[test]
    fn crlf_and_no_trailing_newline() {
        let c = Charset::from_dictionary("x\r\ny").unwrap();
        assert_eq!(c.symbol(1), Some("x"));
        assert_eq!(c.symbol(2), Some("y"));
        assert_eq!(c.len(), 4);
    }

    #[test]
    fn empty_dictionary_is_an_error() {
        assert!(Charset::from_dictionary("").is_err());
    }
}
