//! The HParams plugin's data (tensorboard/plugins/hparams/plugin_data.proto, api.proto):
//! what a run's hyperparameters, its end and the experiment's columns look like to
//! TensorBoard's HParams dashboard.
//!
//! Field numbers used (all from those protos):
//! `HParamsPluginData { version = 1; experiment = 2; session_start_info = 3;
//! session_end_info = 4 }`, `SessionStartInfo { hparams = 1 (map<string, Value>);
//! group_name = 4; start_time_secs = 5 }`, `SessionEndInfo { status = 1;
//! end_time_secs = 2 }`, `Experiment { time_created_secs = 3; hparam_infos = 4;
//! metric_infos = 5 }`, `HParamInfo { name = 1; type = 4 }`, `MetricInfo { name = 1 }`,
//! `MetricName { group = 1; tag = 2 }`, and google.protobuf.Value's
//! `number_value = 2; string_value = 3; bool_value = 4`.

use crate::wire::{fields, put_bytes, put_double, put_int, put_message, Field, WireError};

/// The plugin's name, in `SummaryMetadata.plugin_data.plugin_name`.
pub const PLUGIN: &str = "hparams";
/// The tags TensorBoard looks for.
pub const EXPERIMENT_TAG: &str = "_hparams_/experiment";
pub const SESSION_START_TAG: &str = "_hparams_/session_start_info";
pub const SESSION_END_TAG: &str = "_hparams_/session_end_info";

/// A hyperparameter's value (google.protobuf.Value, the three kinds the plugin shows).
#[derive(Debug, Clone, PartialEq)]
pub enum HValue {
    Number(f64),
    Text(String),
    Bool(bool),
}

impl HValue {
    /// The `DataType` of `HParamInfo.type`: FLOAT64 = 3, STRING = 1, BOOL = 2.
    pub fn data_type(&self) -> i64 {
        match self {
            HValue::Number(_) => 3,
            HValue::Text(_) => 1,
            HValue::Bool(_) => 2,
        }
    }
}

/// `Status` of `SessionEndInfo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Unknown = 0,
    Success = 1,
    Failure = 2,
    Running = 3,
}

impl Status {
    pub fn from_i64(v: i64) -> Status {
        match v {
            1 => Status::Success,
            2 => Status::Failure,
            3 => Status::Running,
            _ => Status::Unknown,
        }
    }
}

/// A session's (a run's) start: its hyperparameters.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SessionStart {
    pub hparams: Vec<(String, HValue)>,
    pub group_name: String,
    pub start_time_secs: f64,
}

/// A session's end.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SessionEnd {
    pub status: Status,
    pub end_time_secs: f64,
}

/// The experiment: the columns of the HParams dashboard.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Experiment {
    /// `(name, DataType)` of each hyperparameter.
    pub hparams: Vec<(String, i64)>,
    /// `(group, tag)` of each metric: the dashboard shows each one's last scalar value.
    pub metrics: Vec<(String, String)>,
    pub time_created_secs: f64,
}

/// What one `HParamsPluginData` holds.
#[derive(Debug, Clone, PartialEq)]
pub enum PluginData {
    Experiment(Experiment),
    SessionStart(SessionStart),
    SessionEnd(SessionEnd),
}

fn put_value(out: &mut Vec<u8>, field: u32, v: &HValue) {
    put_message(out, field, |m| match v {
        HValue::Number(x) => put_double(m, 2, *x),
        HValue::Text(s) => put_bytes(m, 3, s.as_bytes()),
        HValue::Bool(b) => put_int(m, 4, i64::from(*b)),
    });
}

impl PluginData {
    /// The serialized `HParamsPluginData` (version 0, which proto3 leaves out).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            PluginData::Experiment(e) => put_message(&mut out, 2, |m| {
                put_double(m, 3, e.time_created_secs);
                for (name, kind) in &e.hparams {
                    put_message(m, 4, |h| {
                        put_bytes(h, 1, name.as_bytes());
                        put_int(h, 4, *kind);
                    });
                }
                for (group, tag) in &e.metrics {
                    put_message(m, 5, |mi| {
                        put_message(mi, 1, |n| {
                            if !group.is_empty() {
                                put_bytes(n, 1, group.as_bytes());
                            }
                            put_bytes(n, 2, tag.as_bytes());
                        })
                    });
                }
            }),
            PluginData::SessionStart(s) => put_message(&mut out, 3, |m| {
                for (k, v) in &s.hparams {
                    put_message(m, 1, |entry| {
                        put_bytes(entry, 1, k.as_bytes());
                        put_value(entry, 2, v);
                    });
                }
                if !s.group_name.is_empty() {
                    put_bytes(m, 4, s.group_name.as_bytes());
                }
                put_double(m, 5, s.start_time_secs);
            }),
            PluginData::SessionEnd(e) => put_message(&mut out, 4, |m| {
                put_int(m, 1, e.status as i64);
                put_double(m, 2, e.end_time_secs);
            }),
        }
        out
    }

    /// Reads an `HParamsPluginData`; `None` when it holds none of the three (or a
    /// version other than 0, which TensorBoard refuses too).
    pub fn decode(data: &[u8]) -> Result<Option<PluginData>, WireError> {
        let mut found = None;
        for f in fields(data) {
            match f? {
                (1, Field::Varint(v)) if v != 0 => return Ok(None),
                (2, Field::Len(b)) => found = Some(PluginData::Experiment(experiment(b)?)),
                (3, Field::Len(b)) => found = Some(PluginData::SessionStart(session_start(b)?)),
                (4, Field::Len(b)) => found = Some(PluginData::SessionEnd(session_end(b)?)),
                _ => {}
            }
        }
        Ok(found)
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn value(data: &[u8]) -> Result<Option<HValue>, WireError> {
    let mut v = None;
    for f in fields(data) {
        match f? {
            (2, Field::Fixed64(x)) => v = Some(HValue::Number(f64::from_bits(x))),
            (3, Field::Len(b)) => v = Some(HValue::Text(text(b))),
            (4, Field::Varint(x)) => v = Some(HValue::Bool(x != 0)),
            _ => {}
        }
    }
    Ok(v)
}

fn session_start(data: &[u8]) -> Result<SessionStart, WireError> {
    let mut s = SessionStart::default();
    for f in fields(data) {
        match f? {
            (1, Field::Len(entry)) => {
                let (mut key, mut val) = (String::new(), None);
                for g in fields(entry) {
                    match g? {
                        (1, Field::Len(b)) => key = text(b),
                        (2, Field::Len(b)) => val = value(b)?,
                        _ => {}
                    }
                }
                // A map entry without a value holds the Value's default: null, shown empty.
                s.hparams
                    .push((key, val.unwrap_or(HValue::Text(String::new()))));
            }
            (4, Field::Len(b)) => s.group_name = text(b),
            (5, f) => s.start_time_secs = f.as_f64().unwrap_or(0.0),
            _ => {}
        }
    }
    Ok(s)
}

fn session_end(data: &[u8]) -> Result<SessionEnd, WireError> {
    let mut e = SessionEnd {
        status: Status::Unknown,
        end_time_secs: 0.0,
    };
    for f in fields(data) {
        match f? {
            (1, f) => e.status = Status::from_i64(f.as_i64().unwrap_or(0)),
            (2, f) => e.end_time_secs = f.as_f64().unwrap_or(0.0),
            _ => {}
        }
    }
    Ok(e)
}

fn experiment(data: &[u8]) -> Result<Experiment, WireError> {
    let mut e = Experiment::default();
    for f in fields(data) {
        match f? {
            (3, f) => e.time_created_secs = f.as_f64().unwrap_or(0.0),
            (4, Field::Len(info)) => {
                let (mut name, mut kind) = (String::new(), 0);
                for g in fields(info) {
                    match g? {
                        (1, Field::Len(b)) => name = text(b),
                        (4, Field::Varint(v)) => kind = v as i64,
                        _ => {}
                    }
                }
                e.hparams.push((name, kind));
            }
            (5, Field::Len(info)) => {
                for g in fields(info) {
                    if let (1, Field::Len(n)) = g? {
                        let (mut group, mut tag) = (String::new(), String::new());
                        for h in fields(n) {
                            match h? {
                                (1, Field::Len(b)) => group = text(b),
                                (2, Field::Len(b)) => tag = text(b),
                                _ => {}
                            }
                        }
                        e.metrics.push((group, tag));
                    }
                }
            }
            _ => {}
        }
    }
    Ok(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_data_round_trips() {
        let all = [
            PluginData::SessionStart(SessionStart {
                hparams: vec![
                    ("lr".into(), HValue::Number(0.001)),
                    ("optim.name".into(), HValue::Text("adam é".into())),
                    ("amp".into(), HValue::Bool(true)),
                    ("off".into(), HValue::Bool(false)),
                ],
                group_name: "g".into(),
                start_time_secs: 1.7e9,
            }),
            PluginData::SessionEnd(SessionEnd {
                status: Status::Failure,
                end_time_secs: 1.8e9,
            }),
            PluginData::Experiment(Experiment {
                hparams: vec![("lr".into(), 3), ("optim.name".into(), 1)],
                metrics: vec![
                    (String::new(), "loss".into()),
                    ("rank1".into(), "acc".into()),
                ],
                time_created_secs: 5.0,
            }),
        ];
        for d in all {
            assert_eq!(PluginData::decode(&d.encode()), Ok(Some(d)));
        }
    }
}
