//! Size checks made before allocating. A product of sizes that overflows `usize` is an
//! [`Error::InvalidParameter`]; a buffer the allocator refuses is an [`Error::Memory`]:
//! both name the argument, where a plain `vec!` would abort the process or wrap around.

use crate::error::{Error, Result};

/// Below this many bytes an allocation is not probed: it cannot fail short of the
/// machine being out of memory already.
const PROBE_ABOVE: usize = 1 << 20;

/// The product of `factors`, or an error naming `name` if it overflows `usize`.
pub fn product(name: &str, factors: &[usize]) -> Result<usize> {
    factors
        .iter()
        .try_fold(1usize, |acc, &f| acc.checked_mul(f))
        .ok_or_else(|| {
            Error::param(
                name,
                format!("the size {} overflows the address space", show(factors)),
            )
        })
}

/// Checks that `product(factors) * bytes_per_element` bytes can be allocated: the product
/// must not overflow, and for large sizes the allocator is asked for the whole block once
/// (and given it back), so a size that would abort the process is refused instead.
/// `bytes_per_element` should cover everything the caller allocates per element.
pub fn check_alloc(name: &str, factors: &[usize], bytes_per_element: usize) -> Result<()> {
    let elements = product(name, factors)?;
    let bytes = elements
        .checked_mul(bytes_per_element)
        .filter(|&b| b <= isize::MAX as usize)
        .ok_or_else(|| {
            Error::memory(
                name,
                format!("{} elements of {bytes_per_element} bytes", show(factors)),
            )
        })?;
    if bytes > PROBE_ABOVE {
        let mut probe: Vec<u8> = Vec::new();
        // Untouched pages of a large block are never written, so the probe costs a map and
        // an unmap; the real allocations follow immediately.
        if probe.try_reserve_exact(bytes).is_err() {
            return Err(Error::memory(
                name,
                format!("{bytes} bytes for {} elements", show(factors)),
            ));
        }
    }
    Ok(())
}

/// A vector of `len` copies of `value`, or [`Error::Memory`] naming `name`.
pub fn try_filled<T: Clone>(name: &str, len: usize, value: T) -> Result<Vec<T>> {
    let mut v: Vec<T> = Vec::new();
    v.try_reserve_exact(len).map_err(|_| {
        Error::memory(
            name,
            format!("{len} elements of {} bytes", std::mem::size_of::<T>()),
        )
    })?;
    v.resize(len, value);
    Ok(v)
}

fn show(factors: &[usize]) -> String {
    factors
        .iter()
        .map(|f| f.to_string())
        .collect::<Vec<_>>()
        .join(" x ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overflowing_products_are_parameter_errors() {
        assert_eq!(product("dim", &[3, 4, 5]).unwrap(), 60);
        assert_eq!(product("dim", &[]).unwrap(), 1);
        let e = product("dim", &[1 << 32, 1 << 32]).unwrap_err();
        assert!(
            matches!(e, Error::InvalidParameter { ref name, .. } if name == "dim"),
            "{e}"
        );
    }

    #[test]
    fn impossible_allocations_are_memory_errors() {
        assert!(check_alloc("n", &[1000], 8).is_ok());
        assert!(check_alloc("n", &[1 << 21], 8).is_ok());
        // 2**62 bytes: beyond isize on the byte count.
        let e = check_alloc("n_arms", &[1 << 59], 8).unwrap_err();
        assert!(
            matches!(e, Error::Memory { ref argument, .. } if argument == "n_arms"),
            "{e}"
        );
        // 2**50 bytes (a petabyte): representable, but no allocator gives it.
        let e = check_alloc("n_arms", &[1 << 47], 8).unwrap_err();
        assert!(matches!(e, Error::Memory { .. }), "{e}");
        assert!(try_filled("n", 1usize << 60, 0u64).is_err());
        assert_eq!(try_filled("n", 3, 7u8).unwrap(), vec![7, 7, 7]);
    }
}
