//! A model file as a TOML document: reading it, applying `--set KEY=VALUE` overrides to existing keys,
//! rejecting non-finite numbers, and typed look-ups whose errors name the file, the key and the value.

use std::path::{Path, PathBuf};

use toml::{Table, Value};

use crate::ModelError;

/// One `--set KEY=VALUE` override (KEY is a dotted path; numeric parts index arrays: `a.b.2`), or one
/// `--add KEY=TABLE` (an inline table appended to the array of tables KEY, e.g. a device).
#[derive(Clone, Debug, PartialEq)]
pub struct Override {
    pub key: String,
    pub value: String,
    /// `--add`: append `value` (an inline table) to the array of tables `key` instead of replacing a key.
    pub append: bool,
}

impl Override {
    /// Parses `KEY=VALUE` given for the model file `file`.
    pub fn parse(file: &Path, arg: &str) -> Result<Self, ModelError> {
        let fail = |reason: &str| ModelError::Override {
            file: file.to_owned(),
            arg: arg.to_owned(),
            reason: reason.to_owned(),
        };
        let Some((key, value)) = arg.split_once('=') else {
            return Err(fail("expected KEY=VALUE (no `=` found)"));
        };
        let key = key.trim();
        if key.is_empty() || key.split('.').any(str::is_empty) {
            return Err(fail("the key is empty or has an empty part"));
        }
        Ok(Self { key: key.to_owned(), value: value.trim().to_owned(), append: false })
    }

    /// Parses `--add KEY={...}` given for the model file `file`: KEY names a top-level array of tables.
    pub fn parse_append(file: &Path, arg: &str) -> Result<Self, ModelError> {
        let o = Self::parse(file, arg)?;
        if o.key.contains('.') {
            let reason = "--add appends to a top-level array of tables (e.g. current_generators)".to_owned();
            return Err(ModelError::Override { file: file.to_owned(), arg: arg.to_owned(), reason });
        }
        Ok(Self { append: true, ..o })
    }

    /// An override built by the CLI from one of its own flags.
    #[must_use]
    pub fn new(key: &str, value: impl ToString) -> Self {
        Self { key: key.to_owned(), value: value.to_string(), append: false }
    }
}

/// A parsed model file.
#[derive(Clone, Debug)]
pub struct ModelDocument {
    file: PathBuf,
    root: Table,
}

/// Describes a TOML value for error messages.
fn describe(v: &Value) -> String {
    match v {
        Value::String(s) => format!("\"{s}\""),
        other => other.to_string(),
    }
}

/// The first non-finite float in `v`, as (dotted key, value).
fn find_non_finite(prefix: &str, v: &Value) -> Option<(String, f64)> {
    match v {
        Value::Float(f) if !f.is_finite() => Some((prefix.to_owned(), *f)),
        Value::Array(items) => items.iter().enumerate().find_map(|(i, x)| find_non_finite(&format!("{prefix}.{i}"), x)),
        Value::Table(t) => t.iter().find_map(|(k, x)| {
            let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
            find_non_finite(&key, x)
        }),
        _ => None,
    }
}

impl ModelDocument {
    /// Reads and parses `path`; refuses empty files and non-finite numbers.
    pub fn read(path: &Path) -> Result<Self, ModelError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ModelError::Read { file: path.to_owned(), source })?;
        Self::parse(path, &text)
    }

    /// Parses `text` as the content of `file`.
    pub fn parse(file: &Path, text: &str) -> Result<Self, ModelError> {
        let root: Table = text
            .parse()
            .map_err(|e: toml::de::Error| ModelError::Syntax { file: file.to_owned(), message: e.to_string() })?;
        if root.is_empty() {
            return Err(ModelError::Syntax { file: file.to_owned(), message: "the model file is empty".into() });
        }
        let doc = Self { file: file.to_owned(), root };
        if let Some((key, v)) = find_non_finite("", &Value::Table(doc.root.clone())) {
            return Err(doc.invalid(&key, v, "must be a finite number"));
        }
        Ok(doc)
    }

    /// The document as TOML text (overrides applied): what a checkpoint stores to rebuild the same model.
    pub fn to_toml(&self) -> Result<String, ModelError> {
        toml::to_string(&self.root).map_err(|e| ModelError::Syntax { file: self.file.clone(), message: e.to_string() })
    }

    /// A path given in the document: relative ones are relative to the document's own directory.
    #[must_use]
    pub fn resolve(&self, path: &str) -> PathBuf {
        let p = PathBuf::from(path);
        if p.is_absolute() {
            p
        } else {
            self.file.parent().unwrap_or(Path::new(".")).join(p)
        }
    }

    /// The file the document came from.
    #[must_use]
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// An [`ModelError::Invalid`] for `key` in this file.
    pub fn invalid(&self, key: &str, value: impl std::fmt::Display, reason: &str) -> ModelError {
        ModelError::Invalid {
            file: self.file.clone(),
            key: key.to_owned(),
            value: value.to_string(),
            reason: reason.to_owned(),
        }
    }

    /// Replaces the value at an existing key; the new value must have the old one's type (an integer may
    /// replace a float). Values that are not TOML literals are taken as strings.
    pub fn apply(&mut self, o: &Override) -> Result<(), ModelError> {
        let arg = format!("{}={}", o.key, o.value);
        let fail = |reason: String| ModelError::Override { file: self.file.clone(), arg: arg.clone(), reason };
        let new = parse_literal(&o.value);
        if o.append {
            let Value::Table(table) = new else {
                return Err(fail("expects an inline table, e.g. {model = \"dc_generator\", ...}".into()));
            };
            if let Some((key, v)) = find_non_finite(&o.key, &Value::Table(table.clone())) {
                return Err(fail(format!("{key} = {v}: must be a finite number")));
            }
            return match self.root.entry(o.key.clone()).or_insert_with(|| Value::Array(Vec::new())) {
                Value::Array(items) => {
                    items.push(Value::Table(table));
                    Ok(())
                }
                other => Err(fail(format!("`{}` is a {}, not an array of tables", o.key, other.type_str()))),
            };
        }
        if let Value::Float(f) = new {
            if !f.is_finite() {
                return Err(fail("must be a finite number".into()));
            }
        }
        let slot =
            lookup_mut(&mut self.root, &o.key).ok_or_else(|| fail(format!("the model file has no key `{}`", o.key)))?;
        *slot = match (&*slot, new) {
            (Value::Float(_), Value::Integer(i)) => Value::Float(i as f64),
            (Value::Float(_), v @ Value::Float(_))
            | (Value::Integer(_), v @ Value::Integer(_))
            | (Value::String(_), v @ Value::String(_))
            | (Value::Boolean(_), v @ Value::Boolean(_))
            | (Value::Array(_), v @ Value::Array(_)) => v,
            (Value::Table(_), _) => return Err(fail("is a table: set one of its keys".into())),
            (old, v) => {
                return Err(fail(format!("expects a {} like {}, got {}", old.type_str(), describe(old), describe(&v))))
            }
        };
        Ok(())
    }

    /// The value at a dotted key, if present.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&Value> {
        let mut parts = key.split('.');
        let mut cur = self.root.get(parts.next()?)?;
        for p in parts {
            cur = match cur {
                Value::Table(t) => t.get(p)?,
                Value::Array(a) => a.get(p.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        Some(cur)
    }

    fn required(&self, key: &str) -> Result<&Value, ModelError> {
        self.get(key).ok_or_else(|| self.invalid(key, "(missing)", "required key is missing"))
    }

    /// The value of `model`.
    /// The model kind the `model` key names.
    pub fn model_kind(&self) -> Result<crate::ModelKind, ModelError> {
        let name = self.string("model")?;
        crate::ModelKind::from_name(&name).ok_or_else(|| {
            self.invalid("model", &name, &format!("unknown model; known models: {}", crate::ModelKind::known()))
        })
    }

    /// A number (integers are accepted).
    pub fn number(&self, key: &str) -> Result<f64, ModelError> {
        as_number(self.required(key)?).ok_or_else(|| self.wrong_type(key, "a number"))
    }

    /// A non-negative integer.
    pub fn unsigned(&self, key: &str) -> Result<u64, ModelError> {
        match self.required(key)? {
            Value::Integer(i) if *i >= 0 => Ok(*i as u64),
            Value::Integer(i) => Err(self.invalid(key, i, "must be >= 0")),
            _ => Err(self.wrong_type(key, "a non-negative integer")),
        }
    }

    /// A string.
    pub fn string(&self, key: &str) -> Result<String, ModelError> {
        match self.required(key)? {
            Value::String(s) => Ok(s.clone()),
            _ => Err(self.wrong_type(key, "a string")),
        }
    }

    /// An array of numbers of length `len`.
    pub fn numbers(&self, key: &str, len: usize) -> Result<Vec<f64>, ModelError> {
        let Value::Array(items) = self.required(key)? else { return Err(self.wrong_type(key, "an array of numbers")) };
        if items.len() != len {
            return Err(self.invalid(key, describe(self.required(key)?), &format!("needs {len} entries")));
        }
        items
            .iter()
            .enumerate()
            .map(|(i, v)| as_number(v).ok_or_else(|| self.wrong_type(&format!("{key}.{i}"), "a number")))
            .collect()
    }

    /// An array of strings (any length >= 1).
    pub fn strings(&self, key: &str) -> Result<Vec<String>, ModelError> {
        let Value::Array(items) = self.required(key)? else { return Err(self.wrong_type(key, "an array of strings")) };
        if items.is_empty() {
            return Err(self.invalid(key, "[]", "must not be empty"));
        }
        items
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::String(s) => Ok(s.clone()),
                _ => Err(self.wrong_type(&format!("{key}.{i}"), "a string")),
            })
            .collect()
    }

    /// Refuses keys of `section` that are not in `known` (catches typos that would otherwise be ignored).
    pub fn expect_keys(&self, section: &str, known: &[&str]) -> Result<(), ModelError> {
        let table = if section.is_empty() {
            &self.root
        } else {
            match self.required(section)? {
                Value::Table(t) => t,
                _ => return Err(self.wrong_type(section, "a table")),
            }
        };
        for k in table.keys() {
            if !known.contains(&k.as_str()) {
                let key = if section.is_empty() { k.clone() } else { format!("{section}.{k}") };
                return Err(self.invalid(
                    &key,
                    describe(&table[k]),
                    &format!("unknown key; expected one of: {}", known.join(", ")),
                ));
            }
        }
        Ok(())
    }

    fn wrong_type(&self, key: &str, expected: &str) -> ModelError {
        let value = self.get(key).map_or_else(|| "(missing)".to_owned(), describe);
        self.invalid(key, value, &format!("must be {expected}"))
    }
}

fn as_number(v: &Value) -> Option<f64> {
    match v {
        Value::Float(f) => Some(*f),
        Value::Integer(i) => Some(*i as f64),
        _ => None,
    }
}

/// A TOML literal (number, boolean, string, array, inline table), or the raw text as a string.
fn parse_literal(text: &str) -> Value {
    format!("v = {text}")
        .parse::<Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| Value::String(text.to_owned()))
}

fn lookup_mut<'a>(root: &'a mut Table, key: &str) -> Option<&'a mut Value> {
    let mut parts = key.split('.');
    let mut cur = root.get_mut(parts.next()?)?;
    for p in parts {
        cur = match cur {
            Value::Table(t) => t.get_mut(p)?,
            Value::Array(a) => a.get_mut(p.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(cur)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn doc(text: &str) -> ModelDocument {
        ModelDocument::parse(Path::new("m.toml"), text).unwrap()
    }

    #[test]
    fn add_appends_an_inline_table_to_an_array_of_tables_creating_it() {
        let mut d = doc("model = \"network\"\n[[populations]]\nname = \"E\"\n");
        let add = |arg: &str| Override::parse_append(Path::new("m.toml"), arg).unwrap();
        d.apply(&add("populations={name = \"stim\", size = 2}")).unwrap();
        d.apply(&add("current_generators={model = \"dc_generator\", amplitude = 5.0}")).unwrap();
        assert_eq!(d.string("populations.1.name").unwrap(), "stim");
        assert_eq!(d.number("current_generators.0.amplitude").unwrap(), 5.0);
        let e = d.apply(&add("model={a = 1}")).unwrap_err().to_string();
        assert!(e.contains("not an array of tables"), "{e}");
        let e = d.apply(&add("populations=3")).unwrap_err().to_string();
        assert!(e.contains("inline table"), "{e}");
        assert!(Override::parse_append(Path::new("m.toml"), "a.b={x = 1}").is_err());
    }
}
