"""The few special functions the noise-aware gate needs, in plain Python (pure, no numpy).

Student's t upper tail (through the regularised incomplete beta function), the normal upper
tail, and digamma, trigamma and trigamma's inverse for pooling the spread of many tests
(Smyth's empirical Bayes, as limma's ``fitFDist``). Accurate to about 1e-10 relative, far
finer than any gate decision needs.
"""

from __future__ import annotations

import math

__all__ = ["digamma", "normal_sf", "t_sf", "trigamma", "trigamma_inverse"]


def normal_sf(z: float) -> float:
    """P(Z > z) for a standard normal Z."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def _beta_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of the incomplete beta function (modified Lentz)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 500):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        step = d * c
        h *= step
        if abs(step - 1.0) < 1e-14:
            break
    return h


def _betainc(a: float, b: float, x: float) -> float:
    """The regularised incomplete beta function I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    front = math.exp(log_front)
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _beta_fraction(a, b, x) / a
    return 1.0 - front * _beta_fraction(b, a, 1.0 - x) / b


def t_sf(t: float, df: float) -> float:
    """P(T > t) for Student's t with ``df`` degrees of freedom (``inf``: the normal)."""
    if math.isinf(df):
        return normal_sf(t)
    if df <= 0:
        raise ValueError(f"degrees of freedom must be positive, got {df!r}")
    tail = 0.5 * _betainc(df / 2.0, 0.5, df / (df + t * t))
    return tail if t > 0 else 1.0 - tail


def digamma(x: float) -> float:
    """psi(x) = d/dx ln Gamma(x), for x > 0."""
    result = 0.0
    while x < 6.0:
        result -= 1.0 / x
        x += 1.0
    f = 1.0 / (x * x)
    series = f * (-1 / 12 + f * (1 / 120 + f * (-1 / 252 + f * (1 / 240 + f * (-1 / 132)))))
    return result + math.log(x) - 0.5 / x + series


def trigamma(x: float) -> float:
    """psi'(x), for x > 0."""
    result = 0.0
    while x < 6.0:
        result += 1.0 / (x * x)
        x += 1.0
    f = 1.0 / (x * x)
    series = 1 / x + f / 2 + f / x * (1 / 6 + f * (-1 / 30 + f * (1 / 42 + f * (-1 / 30))))
    return result + series


def trigamma_inverse(y: float) -> float:
    """The x > 0 with trigamma(x) = y (Newton's method on 1/trigamma, as limma does)."""
    if y <= 0:
        raise ValueError(f"trigamma takes only positive values, got {y!r}")
    if y > 1e7:
        return 1.0 / math.sqrt(y)
    if y < 1e-6:
        return 1.0 / y
    x = 0.5 + 1.0 / y
    for _ in range(100):
        tri = trigamma(x)
        step = tri * (1.0 - tri / y) / _tetragamma(x)
        x += step
        if -step / x < 1e-10:
            break
    return x


def _tetragamma(x: float) -> float:
    """psi''(x), for x > 0 (only Newton's step above needs it)."""
    result = 0.0
    while x < 6.0:
        result -= 2.0 / (x * x * x)
        x += 1.0
    f = 1.0 / (x * x)
    series = -f - f / x + f * f * (-1 / 2 + f * (1 / 6 + f * (-1 / 6 + f * (3 / 10))))
    return result + series
