//! The features document of the query fallback (`{"layers":[{"id", "objectIdFieldName",
//! "features":[...]}]}`), read as a stream: the restore never holds the document, only the
//! batch being parsed, one waiting in the channel and the one being sent.
//!
//! A layer's features are handed on in batches as they are parsed when its `id` and
//! `objectIdFieldName` come before its `features` (documents written since the backup streams
//! them). Documents written earlier have `features` first (their keys were sorted); the reader
//! cannot know which layer such features belong to until the layer ends, so it buffers one
//! layer at a time for them, then hands them on in batches too.
//!
//! `want` chooses the layers of a pass (the restore reads the document twice: the origins of
//! relationships first, then the rest); other layers are skipped without being kept.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io::Read;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// What the reader hands on, in document order: a layer, then its features in batches.
#[derive(Debug)]
pub(crate) enum Piece {
    Layer { id: i64, oid_field: String },
    Features(Vec<Value>),
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum ReadError {
    /// The text is not a features document (or could not be read): the reason, with its place.
    #[error("{0}")]
    Malformed(String),
    /// `emit` refused a piece: the loader is gone.
    #[error("the loader stopped taking features")]
    Stopped,
}

/// Reads the document from `reader`, handing each wanted layer and its features (at most
/// `batch` a piece) to `emit`, which answers false to stop the reading.
pub(crate) fn read_layers<R: Read>(
    reader: R,
    batch: usize,
    want: &dyn Fn(i64) -> bool,
    emit: &mut dyn FnMut(Piece) -> bool,
) -> Result<(), ReadError> {
    let ctx = Ctx { batch: batch.max(1), want, emit: RefCell::new(emit), stopped: Cell::new(false) };
    let mut de = serde_json::Deserializer::from_reader(reader);
    let read = DocumentSeed(&ctx).deserialize(&mut de).and_then(|()| de.end());
    match read {
        Ok(()) => Ok(()),
        Err(_) if ctx.stopped.get() => Err(ReadError::Stopped),
        Err(e) => Err(ReadError::Malformed(e.to_string())),
    }
}

struct Ctx<'a, 'e> {
    batch: usize,
    want: &'a dyn Fn(i64) -> bool,
    emit: RefCell<&'e mut dyn FnMut(Piece) -> bool>,
    stopped: Cell<bool>,
}

impl Ctx<'_, '_> {
    fn send<E: de::Error>(&self, piece: Piece) -> Result<(), E> {
        if (self.emit.borrow_mut())(piece) {
            Ok(())
        } else {
            self.stopped.set(true);
            Err(E::custom("stopped"))
        }
    }
}

/// The whole document: an object whose `layers` is read, other keys skipped.
struct DocumentSeed<'c, 'a, 'e>(&'c Ctx<'a, 'e>);

impl<'de> DeserializeSeed<'de> for DocumentSeed<'_, '_, '_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for DocumentSeed<'_, '_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a features document (an object with a \"layers\" list)")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut layers = false;
        while let Some(key) = map.next_key::<String>()? {
            if key == "layers" {
                map.next_value_seed(LayersSeed(self.0))?;
                layers = true;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        if layers {
            Ok(())
        } else {
            Err(de::Error::missing_field("layers"))
        }
    }
}

struct LayersSeed<'c, 'a, 'e>(&'c Ctx<'a, 'e>);

impl<'de> DeserializeSeed<'de> for LayersSeed<'_, '_, '_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for LayersSeed<'_, '_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of layers")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(LayerSeed(self.0))?.is_some() {}
        Ok(())
    }
}

/// One layer: streamed when its id and object id field come first, buffered when not.
struct LayerSeed<'c, 'a, 'e>(&'c Ctx<'a, 'e>);

impl<'de> DeserializeSeed<'de> for LayerSeed<'_, '_, '_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for LayerSeed<'_, '_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a layer (an object with an \"id\" and \"features\")")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let ctx = self.0;
        let mut id: Option<i64> = None;
        let mut oid_field: Option<String> = None;
        let mut buffered: Option<Vec<Value>> = None;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "id" => id = Some(map.next_value()?),
                "objectIdFieldName" => oid_field = Some(map.next_value()?),
                "features" => match (id, &oid_field) {
                    (Some(id), Some(field)) if (ctx.want)(id) => {
                        ctx.send(Piece::Layer { id, oid_field: field.clone() })?;
                        map.next_value_seed(FeaturesSeed(ctx))?;
                    }
                    (Some(_), Some(_)) => {
                        map.next_value::<IgnoredAny>()?;
                    }
                    // An old document: which layer these are is known at its end.
                    _ => buffered = Some(map.next_value()?),
                },
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let Some(id) = id else {
            return Err(de::Error::missing_field("id"));
        };
        if let Some(features) = buffered {
            if (ctx.want)(id) {
                let oid_field = oid_field.unwrap_or_else(|| "OBJECTID".to_owned());
                ctx.send(Piece::Layer { id, oid_field })?;
                let mut rest = features.into_iter().peekable();
                while rest.peek().is_some() {
                    ctx.send(Piece::Features(rest.by_ref().take(ctx.batch).collect()))?;
                }
            }
        }
        Ok(())
    }
}

/// A layer's features, handed on `batch` at a time while parsed.
struct FeaturesSeed<'c, 'a, 'e>(&'c Ctx<'a, 'e>);

impl<'de> DeserializeSeed<'de> for FeaturesSeed<'_, '_, '_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for FeaturesSeed<'_, '_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of features")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let ctx = self.0;
        let mut batch = Vec::with_capacity(ctx.batch.min(4096));
        while let Some(feature) = seq.next_element::<Value>()? {
            batch.push(feature);
            if batch.len() == ctx.batch {
                ctx.send(Piece::Features(std::mem::take(&mut batch)))?;
            }
        }
        if !batch.is_empty() {
            ctx.send(Piece::Features(batch))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::rc::Rc;

    use serde_json::json;

    use super::*;

    /// A document produced lazily, one feature's text per `read`, counting the features handed
    /// out so far: the test can tell how far the parser read ahead of what it emitted.
    struct LazyDocument {
        features: usize,
        next: usize,
        produced: Rc<Cell<usize>>,
        pending: Vec<u8>,
        stage: u8,
    }

    impl LazyDocument {
        fn new(features: usize, produced: Rc<Cell<usize>>) -> Self {
            LazyDocument { features, next: 0, produced, pending: Vec::new(), stage: 0 }
        }

        fn refill(&mut self) {
            match self.stage {
                0 => {
                    self.pending = br#"{"layers":[{"id":0,"objectIdFieldName":"OBJECTID","features":["#.to_vec();
                    self.stage = 1;
                }
                1 if self.next < self.features => {
                    let comma = if self.next == 0 { "" } else { "," };
                    self.pending = format!(
                        r#"{comma}{{"attributes":{{"OBJECTID":{},"NAME":"feature {}"}}}}"#,
                        self.next + 1,
                        self.next
                    )
                    .into_bytes();
                    self.next += 1;
                    self.produced.set(self.next);
                }
                1 => {
                    self.pending = b"]}]}".to_vec();
                    self.stage = 2;
                }
                _ => {}
            }
        }
    }

    impl Read for LazyDocument {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.pending.is_empty() {
                self.refill();
            }
            let n = buf.len().min(self.pending.len());
            buf[..n].copy_from_slice(&self.pending[..n]);
            self.pending.drain(..n);
            Ok(n)
        }
    }

    fn read_all(doc: &Value, batch: usize, want: &dyn Fn(i64) -> bool) -> Vec<Piece> {
        let text = serde_json::to_vec(doc).expect("json");
        let mut pieces = Vec::new();
        read_layers(text.as_slice(), batch, want, &mut |p| {
            pieces.push(p);
            true
        })
        .expect("a well-formed document reads");
        pieces
    }

    fn oids(batch: &[Value]) -> Vec<i64> {
        batch.iter().map(|f| f["attributes"]["OBJECTID"].as_i64().expect("oid")).collect()
    }

    #[test]
    fn a_document_far_larger_than_a_batch_is_read_with_few_features_in_flight() {
        let (total, batch) = (20_000, 50);
        let produced = Rc::new(Cell::new(0));
        let mut consumed = 0usize;
        let mut most_in_flight = 0usize;
        let mut seen = Vec::new();
        let mut layers = Vec::new();
        read_layers(LazyDocument::new(total, produced.clone()), batch, &|_| true, &mut |p| {
            match p {
                Piece::Layer { id, oid_field } => layers.push((id, oid_field)),
                Piece::Features(f) => {
                    assert!(f.len() <= batch, "a batch holds at most {batch} features, got {}", f.len());
                    most_in_flight = most_in_flight.max(produced.get() - consumed);
                    consumed += f.len();
                    seen.extend(oids(&f));
                }
            }
            true
        })
        .expect("the document reads");
        assert_eq!(layers, vec![(0, "OBJECTID".to_owned())], "the layer is announced once, before its features");
        assert_eq!(seen, (1..=total as i64).collect::<Vec<_>>(), "every feature comes out once, in order");
        assert!(
            most_in_flight <= 2 * batch,
            "the reader must not run ahead of the loader: {most_in_flight} features were read but not handed on"
        );
    }

    #[test]
    fn an_old_document_with_features_before_the_layer_id_still_reads() {
        // Old blobs were written from a serde_json::Value: keys sorted, "features" first.
        let doc = json!({"layers": [
            {"features": [{"attributes": {"OBJECTID": 1}}, {"attributes": {"OBJECTID": 2}}, {"attributes": {"OBJECTID": 3}}],
             "id": 3, "objectIdFieldName": "OBJECTID"}
        ]});
        let text = serde_json::to_string(&doc).expect("json");
        assert!(text.find("features") < text.find("\"id\""), "the test document has the old key order");
        let pieces = read_all(&doc, 2, &|_| true);
        assert!(matches!(&pieces[0], Piece::Layer { id: 3, oid_field } if oid_field == "OBJECTID"), "layer first");
        let got: Vec<Vec<i64>> = pieces[1..]
            .iter()
            .map(|p| match p {
                Piece::Features(f) => oids(f),
                Piece::Layer { .. } => panic!("one layer only"),
            })
            .collect();
        assert_eq!(got, vec![vec![1, 2], vec![3]], "an old layer's features come out in batches too");
    }

    #[test]
    fn layers_not_wanted_in_a_pass_are_skipped() {
        let doc = json!({"layers": [
            {"id": 0, "objectIdFieldName": "OBJECTID", "features": [{"attributes": {"OBJECTID": 1}}]},
            {"features": [{"attributes": {"OBJECTID": 7}}], "id": 1, "objectIdFieldName": "OBJECTID"},
            {"id": 2, "objectIdFieldName": "OBJECTID", "features": [{"attributes": {"OBJECTID": 9}}]}
        ]});
        let pieces = read_all(&doc, 10, &|id| id == 1);
        assert_eq!(pieces.len(), 2, "only layer 1 and its one batch: {pieces:?}");
        assert!(matches!(&pieces[0], Piece::Layer { id: 1, .. }), "the wanted layer");
        assert!(matches!(&pieces[1], Piece::Features(f) if oids(f) == vec![7]), "its features");
    }

    #[test]
    fn a_malformed_document_is_an_error_not_a_panic() {
        let cases: [&[u8]; 5] = [
            br#"{"layers":[{"id":0,"objectIdFieldName":"OBJECTID","features":[{"attributes":{"OBJECTID":1}},"#,
            br#"{"layers":[{"id":"zero","features":[]}]}"#,
            br#"{"layers":[{"objectIdFieldName":"OBJECTID","features":[{"attributes":{}}]}]}"#,
            br#"{"services":[]}"#,
            b"not json",
        ];
        for text in cases {
            let got = read_layers(text, 10, &|_| true, &mut |_| true);
            assert!(
                matches!(got, Err(ReadError::Malformed(_))),
                "{:?} must be reported as malformed, got {got:?}",
                String::from_utf8_lossy(text)
            );
        }
    }

    #[test]
    fn reading_stops_when_the_loader_is_gone() {
        let produced = Rc::new(Cell::new(0));
        let got = read_layers(LazyDocument::new(10_000, produced.clone()), 10, &|_| true, &mut |p| {
            matches!(p, Piece::Layer { .. })
        });
        assert!(matches!(got, Err(ReadError::Stopped)), "a refused batch stops the reader: {got:?}");
        assert!(produced.get() < 100, "nothing more is read once the loader is gone ({} features)", produced.get());
    }

    mod any_input {
        use proptest::prelude::*;

        use super::*;

        /// A valid document of one layer per `(old key order, feature count)`, and its object
        /// ids per layer.
        fn document(layers: &[(bool, u8)]) -> (Vec<u8>, Vec<Vec<i64>>) {
            let mut ids = Vec::new();
            let mut texts = Vec::new();
            for (i, &(old_order, n)) in layers.iter().enumerate() {
                let oids: Vec<i64> = (1..=i64::from(n)).collect();
                let features =
                    Value::from(oids.iter().map(|o| json!({"attributes": {"OBJECTID": o}})).collect::<Vec<_>>());
                texts.push(if old_order {
                    format!(r#"{{"features":{features},"id":{i},"objectIdFieldName":"OBJECTID"}}"#)
                } else {
                    format!(r#"{{"id":{i},"objectIdFieldName":"OBJECTID","features":{features}}}"#)
                });
                ids.push(oids);
            }
            (format!(r#"{{"layers":[{}]}}"#, texts.join(",")).into_bytes(), ids)
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(128))]

            #[test]
            fn any_document_comes_out_whole_in_batches(
                layers in proptest::collection::vec((any::<bool>(), 0u8..40), 0..5),
                batch in 1usize..12,
            ) {
                let (text, want) = document(&layers);
                let mut got: Vec<Vec<i64>> = Vec::new();
                read_layers(text.as_slice(), batch, &|_| true, &mut |p| {
                    match p {
                        Piece::Layer { .. } => got.push(Vec::new()),
                        Piece::Features(f) => {
                            assert!(f.len() <= batch, "no batch above {batch}");
                            got.last_mut().expect("a layer before its features").extend(oids(&f));
                        }
                    }
                    true
                }).expect("a valid document reads");
                let nonempty = |v: Vec<Vec<i64>>| v.into_iter().filter(|l| !l.is_empty()).collect::<Vec<_>>();
                prop_assert_eq!(nonempty(got), nonempty(want), "every feature once, in order, under its layer");
            }

            #[test]
            fn any_damaged_document_reads_or_fails_cleanly(
                layers in proptest::collection::vec((any::<bool>(), 0u8..10), 1..3),
                cut in any::<prop::sample::Index>(),
                flip in any::<prop::sample::Index>(),
                byte in any::<u8>(),
            ) {
                let (mut text, _) = document(&layers);
                let at = flip.index(text.len());
                text[at] = byte;
                let end = cut.index(text.len() + 1);
                let _ = read_layers(&text[..end], 3, &|_| true, &mut |_| true);
            }

            #[test]
            fn any_bytes_read_or_fail_cleanly(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
                let _ = read_layers(bytes.as_slice(), 3, &|_| true, &mut |_| true);
            }
        }
    }
}
