//! A decoder panic that is caught ([`magpie_models::decode::catch_quietly`], which the decoders
//! and the indexer's workers run third-party code under) is reported once, by its caller, as one
//! line naming the file: the panic hook — the `thread … panicked at` line and, with
//! `RUST_BACKTRACE`, a whole backtrace on stderr — stays silent for it. Any other panic still
//! reaches the hook. (One test in its own binary: the hook is process-wide.)

use std::sync::atomic::{AtomicUsize, Ordering};

use magpie_models::decode::catch_quietly;

static HOOK_CALLS: AtomicUsize = AtomicUsize::new(0);

#[test]
fn a_caught_decoder_panic_never_reaches_the_panic_hook() {
    std::panic::set_hook(Box::new(|_| {
        HOOK_CALLS.fetch_add(1, Ordering::SeqCst);
    }));

    let caught = catch_quietly(|| -> u32 { panic!("decoder exploded on {}", "IMG_1.heic") });
    assert_eq!(caught, Err("decoder exploded on IMG_1.heic".to_string()));
    let nested = catch_quietly(|| catch_quietly(|| -> u32 { panic!("inner") }));
    assert_eq!(nested, Ok(Err("inner".to_string())));
    assert_eq!(catch_quietly(|| 7), Ok(7));
    assert_eq!(
        HOOK_CALLS.load(Ordering::SeqCst),
        0,
        "the panic hook reported a panic that was caught and reported by its caller"
    );

    // Outside `catch_quietly` (here and on another thread) a panic is reported as usual.
    assert!(std::panic::catch_unwind(|| panic!("a real bug")).is_err());
    assert_eq!(HOOK_CALLS.load(Ordering::SeqCst), 1);
    assert!(std::thread::spawn(|| panic!("another thread"))
        .join()
        .is_err());
    assert_eq!(HOOK_CALLS.load(Ordering::SeqCst), 2);
}
