//! The polyglot example's `indexer` service, in Rust. It has no routes: it
//! handles `notes.created`, which the Python `notes` service publishes
//! (`{"id", "text"}`), and keeps counts in the `notes` key-value store that
//! the JavaScript `stats` service reads: `stats:notes` (notes seen),
//! `stats:words` (words in them) and `stats:last` (the last note's id).
//!
//! A message that is not a note is an error: the host retries it and then
//! dead-letters it.

use serde::Deserialize;
use wharf_sdk::Error;
use wharf_sdk::keyvalue::Store;
use wharf_sdk::messaging::Message;

/// A `notes.created` message.
#[derive(Debug, Deserialize)]
struct Note {
    id: String,
    text: String,
}

#[wharf_sdk::message_handler]
fn on_message(msg: Message) -> Result<(), Error> {
    let note: Note = msg.json()?;
    let store = Store::open("notes")?;
    store.increment("stats:notes", 1)?;
    store.increment("stats:words", word_count(&note.text))?;
    store.set("stats:last", &note.id)?;
    println!("indexed note {}", note.id);
    Ok(())
}

/// Whitespace-separated words in `text`.
fn word_count(text: &str) -> u64 {
    u64::try_from(text.split_whitespace().count()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::word_count;

    #[test]
    fn counts_words() {
        assert_eq!(word_count("  buy more  milk "), 3);
        assert_eq!(word_count(""), 0);
    }
}
