//! The two async tools the WASI 0.3 binding needs beyond wit-bindgen's: the
//! first of two futures to finish, and a one-shot signal from a spawned task.
//! A dependency (`futures`) would bring much more than these few lines.

use std::cell::Cell;
use std::future::{poll_fn, Future};
use std::pin::pin;
use std::task::{Poll, Waker};

pub(crate) enum Either<A, B> {
    Left(A),
    Right(B),
}

/// Runs `a` and `b` together; the first to finish wins, the other is dropped
/// (which cancels a pending stream read or write, or a host call).
pub(crate) async fn race<A: Future, B: Future>(a: A, b: B) -> Either<A::Output, B::Output> {
    let mut a = pin!(a);
    let mut b = pin!(b);
    poll_fn(move |cx| {
        if let Poll::Ready(v) = a.as_mut().poll(cx) {
            return Poll::Ready(Either::Left(v));
        }
        b.as_mut().poll(cx).map(Either::Right)
    })
    .await
}

/// A value one task sets once and another waits for.
pub(crate) struct Signal<T> {
    value: Cell<Option<T>>,
    waker: Cell<Option<Waker>>,
}

impl<T> Signal<T> {
    pub(crate) fn new() -> Signal<T> {
        Signal {
            value: Cell::new(None),
            waker: Cell::new(None),
        }
    }

    pub(crate) fn set(&self, value: T) {
        self.value.set(Some(value));
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }

    /// Waits for the value (taking it).
    pub(crate) async fn wait(&self) -> T {
        poll_fn(|cx| match self.value.take() {
            Some(v) => Poll::Ready(v),
            None => {
                self.waker.set(Some(cx.waker().clone()));
                Poll::Pending
            }
        })
        .await
    }
}
