//! LDK's rules for namespaces and keys, checked before a store touches anything.
//!
//! A name uses only [`KVSTORE_NAMESPACE_KEY_ALPHABET`] (ASCII letters, digits, `_` and `-`) and has
//! at most [`KVSTORE_NAMESPACE_KEY_MAX_LEN`] characters. A key is never empty, and a secondary
//! namespace is only allowed under a non-empty primary namespace. Because `/`, `.` and `\` are
//! outside the alphabet, a name that passes cannot leave a store's directory.

use std::fmt;

use lightning::util::persist::{KVSTORE_NAMESPACE_KEY_ALPHABET, KVSTORE_NAMESPACE_KEY_MAX_LEN};

/// The location of a value in a store: its primary and secondary namespace and, except for
/// `list`, its key.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct KeyLocation {
    /// The primary namespace, possibly empty.
    pub primary_namespace: String,
    /// The secondary namespace, possibly empty.
    pub secondary_namespace: String,
    /// The key, or `None` when an operation concerns a whole namespace.
    pub key: Option<String>,
}

impl KeyLocation {
    /// Returns the location of `key` in the given namespaces.
    pub fn key(primary_namespace: &str, secondary_namespace: &str, key: &str) -> Self {
        KeyLocation {
            primary_namespace: primary_namespace.to_owned(),
            secondary_namespace: secondary_namespace.to_owned(),
            key: Some(key.to_owned()),
        }
    }

    /// Returns the location of a whole namespace, as `list` uses it.
    pub fn namespace(primary_namespace: &str, secondary_namespace: &str) -> Self {
        KeyLocation {
            primary_namespace: primary_namespace.to_owned(),
            secondary_namespace: secondary_namespace.to_owned(),
            key: None,
        }
    }
}

impl fmt::Display for KeyLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(key) = &self.key {
            write!(f, "key {key:?} in ")?;
        }
        write!(
            f,
            "namespace {:?}/{:?}",
            self.primary_namespace, self.secondary_namespace
        )
    }
}

/// The part of a location that a rule applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NamePart {
    /// The primary namespace.
    PrimaryNamespace,
    /// The secondary namespace.
    SecondaryNamespace,
    /// The key.
    Key,
}

impl fmt::Display for NamePart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NamePart::PrimaryNamespace => "primary namespace",
            NamePart::SecondaryNamespace => "secondary namespace",
            NamePart::Key => "key",
        })
    }
}

/// The naming rule that a rejected location breaks.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NameRule {
    /// The key is empty.
    EmptyKey,
    /// A part is longer than [`KVSTORE_NAMESPACE_KEY_MAX_LEN`] characters.
    TooLong {
        /// The part that is too long.
        part: NamePart,
        /// Its length in characters (ASCII, because the alphabet is checked first).
        length: usize,
    },
    /// A part contains a character outside [`KVSTORE_NAMESPACE_KEY_ALPHABET`].
    InvalidCharacter {
        /// The part that contains the character.
        part: NamePart,
        /// The first character outside the alphabet.
        character: char,
    },
    /// The secondary namespace is set but the primary namespace is empty.
    SecondaryWithoutPrimary,
}

impl fmt::Display for NameRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameRule::EmptyKey => f.write_str("the key is empty, but a key needs at least one character"),
            NameRule::TooLong { part, length } => write!(
                f,
                "the {part} is {length} characters long, but at most {KVSTORE_NAMESPACE_KEY_MAX_LEN} are allowed"
            ),
            NameRule::InvalidCharacter { part, character } => write!(
                f,
                "the {part} contains {character:?}, but only ASCII letters, digits, '_' and '-' are allowed"
            ),
            NameRule::SecondaryWithoutPrimary => f.write_str(
                "the secondary namespace is set, but the primary namespace is empty; set the primary namespace first",
            ),
        }
    }
}

/// A namespace or key that breaks LDK's naming rules.
///
/// Stores return it before touching any file or row.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid {location}: {rule}")]
pub struct NameError {
    location: KeyLocation,
    rule: NameRule,
}

impl NameError {
    /// Returns the rejected location.
    pub fn location(&self) -> &KeyLocation {
        &self.location
    }

    /// Returns the rule that the location breaks.
    pub fn rule(&self) -> &NameRule {
        &self.rule
    }
}

/// Checks a key and its namespaces against LDK's naming rules.
///
/// # Errors
///
/// Returns a [`NameError`] naming the namespaces, the key and the first rule broken.
///
/// # Examples
///
/// ```
/// use vigil_persistence::{check_key, NameRule};
///
/// assert!(check_key("monitors", "", "deadbeef_1").is_ok());
/// let error = check_key("", "", "../escape").unwrap_err();
/// assert!(matches!(error.rule(), NameRule::InvalidCharacter { character: '.', .. }));
/// ```
pub fn check_key(
    primary_namespace: &str,
    secondary_namespace: &str,
    key: &str,
) -> Result<(), NameError> {
    check(primary_namespace, secondary_namespace, Some(key))
}

/// Checks a pair of namespaces, as `list` receives them, against LDK's naming rules.
///
/// # Errors
///
/// Returns a [`NameError`] naming the namespaces and the first rule broken.
pub fn check_namespace(
    primary_namespace: &str,
    secondary_namespace: &str,
) -> Result<(), NameError> {
    check(primary_namespace, secondary_namespace, None)
}

fn check(primary: &str, secondary: &str, key: Option<&str>) -> Result<(), NameError> {
    let reject = |rule| NameError {
        location: KeyLocation {
            primary_namespace: primary.to_owned(),
            secondary_namespace: secondary.to_owned(),
            key: key.map(str::to_owned),
        },
        rule,
    };

    check_part(primary, NamePart::PrimaryNamespace).map_err(reject)?;
    check_part(secondary, NamePart::SecondaryNamespace).map_err(reject)?;
    if primary.is_empty() && !secondary.is_empty() {
        return Err(reject(NameRule::SecondaryWithoutPrimary));
    }
    if let Some(key) = key {
        if key.is_empty() {
            return Err(reject(NameRule::EmptyKey));
        }
        check_part(key, NamePart::Key).map_err(reject)?;
    }
    Ok(())
}

fn check_part(name: &str, part: NamePart) -> Result<(), NameRule> {
    if let Some(character) = name
        .chars()
        .find(|c| !KVSTORE_NAMESPACE_KEY_ALPHABET.contains(*c))
    {
        return Err(NameRule::InvalidCharacter { part, character });
    }
    if name.len() > KVSTORE_NAMESPACE_KEY_MAX_LEN {
        return Err(NameRule::TooLong {
            part,
            length: name.len(),
        });
    }
    Ok(())
}

/// Returns whether `name` could be a key, so that listings skip temporary and lock files.
pub(crate) fn is_valid_key(name: &str) -> bool {
    !name.is_empty() && check_part(name, NamePart::Key).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ldk_keys() {
        assert_eq!(check_key("", "", "manager"), Ok(()));
        assert_eq!(check_key("monitors", "", "abc_0"), Ok(()));
        assert_eq!(check_key("a", "b", &"k".repeat(120)), Ok(()));
        assert_eq!(check_namespace("", ""), Ok(()));
    }

    #[test]
    fn rejects_each_rule() {
        let cases = [
            (("", "", ""), NameRule::EmptyKey),
            (
                ("", "", ".."),
                NameRule::InvalidCharacter {
                    part: NamePart::Key,
                    character: '.',
                },
            ),
            (
                ("a/b", "", "k"),
                NameRule::InvalidCharacter {
                    part: NamePart::PrimaryNamespace,
                    character: '/',
                },
            ),
            (("", "s", "k"), NameRule::SecondaryWithoutPrimary),
            (
                ("p", "", &"k".repeat(121)),
                NameRule::TooLong {
                    part: NamePart::Key,
                    length: 121,
                },
            ),
            (
                ("p", &"s".repeat(121), "k"),
                NameRule::TooLong {
                    part: NamePart::SecondaryNamespace,
                    length: 121,
                },
            ),
            (
                ("p", "", "\u{e9}"),
                NameRule::InvalidCharacter {
                    part: NamePart::Key,
                    character: '\u{e9}',
                },
            ),
        ];
        for ((primary, secondary, key), rule) in cases {
            let error = check_key(primary, secondary, key).expect_err(key);
            assert_eq!(error.rule(), &rule, "{primary:?}/{secondary:?}/{key:?}");
        }
    }

    #[test]
    fn message_names_location_and_rule() {
        let error = check_key("", "", "a/b").expect_err("a slash is outside the alphabet");
        let message = error.to_string();
        assert!(message.contains(r#"key "a/b""#), "{message}");
        assert!(message.contains(r#"namespace ""/"""#), "{message}");
        assert!(message.contains("contains '/'"), "{message}");
    }
}
