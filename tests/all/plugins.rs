//! Every plugin under `plugins/` loads, describes itself consistently and is deterministic to load.

use petri_tests::{block_on, host};

macro_rules! plugin_test {
    ($ident:ident, $name:literal) => {
        #[test]
        fn $ident() {
            let (petri, _dir) = host();
            let path = std::path::Path::new(
                petri_plugins::ALL
                    .iter()
                    .find(|(n, _)| *n == $name)
                    .unwrap()
                    .1,
            );
            let stage = petri.load_file(path).unwrap();
            assert_eq!(
                stage.digest,
                petri_host::Digest::of(&std::fs::read(path).unwrap())
            );
            let manifest = block_on(petri.describe(&stage)).unwrap();
            assert_eq!(manifest.name, $name);
            assert!(
                !manifest.outputs.is_empty(),
                "a stage must produce something"
            );
            assert!(
                !manifest.errors.is_empty(),
                "a stage must declare its error kinds"
            );
            for p in &manifest.params {
                assert!(!p.doc.is_empty(), "param `{}` has no doc", p.name);
            }
        }
    };
}

mod each {
    use super::*;
    petri_plugins::foreach_plugin!(plugin_test);
}
