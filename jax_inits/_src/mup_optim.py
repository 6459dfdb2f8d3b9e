"""The optax side of a parametrization: per-leaf lr, weight decay and Adam's epsilon.

`OptaxTransforms` gives `Parametrization` its optax transformations: each reads one
column of the table (`Parametrization.multipliers`) as a pytree of floats and applies
it leaf by leaf. optax is imported when a transformation is built, never before.
"""

from __future__ import annotations

from typing import Any, Literal

import jax
import jax.numpy as jnp

from jax_inits._src import checks

Optimizer = Literal["adam", "sgd"]
OPTIMIZERS: tuple[str, ...] = ("adam", "sgd")


class OptaxTransforms:
    """The optax transformations of a `Parametrization` (a base class of it)."""

    def multipliers(self, kind: str) -> Any:  # pragma: no cover - Parametrization's
        raise NotImplementedError

    def _optimizer(self, fn: str, optimizer: Any) -> str:
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"{fn}: `optimizer` must be one of {OPTIMIZERS}, got {optimizer!r}.")
        return optimizer

    def scale_updates(self, optimizer: Optimizer = "adam"):
        """An optax transformation multiplying each leaf's update by its lr multiplier.

        Chain it after the base optimizer, whose learning rate is the one tuned
        at the base width: ``optax.chain(optax.adam(lr), p.scale_updates("adam"))``.
        The scaling is linear, so its place among other linear steps does not matter.

        Args:
          optimizer: ``"adam"`` for Adam-like (entrywise normalized) updates,
            ``"sgd"`` for SGD-like ones (mup's ``MuAdam`` / ``MuSGD``).

        Returns:
          An ``optax.GradientTransformation`` (stateless).

        Raises:
          ValueError: If ``optimizer`` is neither.
        """
        kind = self._optimizer("Parametrization.scale_updates", optimizer) + "_lr"
        return _scale_by_tree(self.multipliers(kind))

    def add_decayed_weights(
        self, weight_decay: float, optimizer: Optimizer = "adam", *, mask: Any = None
    ):
        r"""``optax.add_decayed_weights`` with each leaf's decay times its wd multiplier.

        Adds $\lambda\, c_{wd}\, w$ to the update of each leaf $w$. Torch's
        coupled weight decay (``MuAdam``/``MuSGD`` with ``weight_decay``): chain it
        before the optimizer; decoupled (``MuAdamW``): after ``optax.scale_by_adam``
        and before `scale_updates`, so that $\eta\, c_{lr} \cdot \lambda\,
        c_{wd}$ is the same product as in mup's param groups.

        Args:
          weight_decay: The base rate $\lambda$, ``>= 0``.
          optimizer: ``"adam"`` or ``"sgd"``: which wd multipliers to use.
          mask: Optional pytree of bools (or a callable), as in optax.

        Returns:
          An ``optax.GradientTransformation``.

        Raises:
          ValueError: If ``weight_decay < 0`` or ``optimizer`` is neither.
        """
        fn = "Parametrization.add_decayed_weights"
        kind = self._optimizer(fn, optimizer) + "_wd"
        weight_decay = checks.real_number(fn, "weight_decay", weight_decay, minimum=0.0)
        rates = jax.tree.map(lambda c: weight_decay * c, self.multipliers(kind))
        return _add_decayed_weights(rates, mask)

    def scale_gradients_for_eps(self):
        r"""An optax transformation giving Adam a per-leaf $\epsilon$: gradient $\div c_\epsilon$.

        Adam's update $\hat m / (\sqrt{\hat v} + \epsilon)$ of a gradient scaled by
        $s$ is $\hat m / (\sqrt{\hat v} + \epsilon / s)$: the same update with
        $\epsilon / s$. So ``optax.scale_by_adam(eps=eps)`` fed gradients divided by
        each leaf's ``adam_eps`` multiplier $c_\epsilon$ runs with $\epsilon\,
        c_\epsilon$ on that leaf, exactly (up to rounding; ``eps_root`` must be 0).
        Chain it immediately before ``scale_by_adam``: anything between (clipping)
        would see the scaled gradients. `adamw` does this.

        Returns:
          An ``optax.GradientTransformation`` (stateless).
        """
        return _scale_by_tree(jax.tree.map(lambda c: 1.0 / c, self.multipliers("adam_eps")))

    def adamw(
        self,
        learning_rate: Any,
        *,
        b1: float = 0.9,
        b2: float = 0.999,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        mask: Any = None,
        independent_weight_decay: bool = False,
    ):
        r"""AdamW with every per-leaf multiplier of the table: lr, weight decay and $\epsilon$.

        The chain `scale_gradients_for_eps`, ``optax.scale_by_adam(b1, b2, eps)``,
        `add_decayed_weights` (decoupled, as torch's ``AdamW``), `scale_updates`
        and ``optax.scale_by_learning_rate(learning_rate)``. Leaf $w$ moves by
        $-\eta\, c_{lr} (\hat m / (\sqrt{\hat v} + \epsilon\, c_\epsilon) + \lambda\,
        c_{wd}\, w)$, torch ``AdamW`` with one param group per leaf at
        ``lr = eta * c_lr``, ``weight_decay = lambda * c_wd``, ``eps = eps * c_eps``.

        Args:
          learning_rate: The base $\eta$ (a float or an optax schedule).
          b1: Adam's $\beta_1$.
          b2: Adam's $\beta_2$.
          eps: The base $\epsilon$.
          weight_decay: The base $\lambda$, ``>= 0``.
          mask: Which leaves decay (a pytree of bools or a callable), as in optax;
            None decays every leaf.
          independent_weight_decay: Decay by $\lambda\, c_{wd}\, w$ a step whatever
            the learning rate (unit-scaling's ``independent_weight_decay=True``: torch
            groups with ``weight_decay = lambda / (eta * c_lr)``); needs a float
            ``learning_rate`` (the peak rate, as there).

        Returns:
          An ``optax.GradientTransformation``.

        Raises:
          ValueError: If ``weight_decay < 0``.
          TypeError: If ``independent_weight_decay`` and ``learning_rate`` is a schedule.
        """
        with checks.needs("Parametrization.adamw", "optax"):
            import optax

        fn = "Parametrization.adamw"
        weight_decay = checks.real_number(fn, "weight_decay", weight_decay, minimum=0.0)
        if independent_weight_decay:
            if callable(learning_rate):
                raise TypeError(
                    f"{fn}: `independent_weight_decay` needs a float `learning_rate` (the peak "
                    f"rate), got {learning_rate!r}."
                )
            eta = checks.real_number(fn, "learning_rate", learning_rate, strict=True, minimum=0.0)
            rates = jax.tree.map(
                lambda wd, lr: weight_decay * wd / (eta * lr),
                self.multipliers("adam_wd"),
                self.multipliers("adam_lr"),
            )
            decay = _add_decayed_weights(rates, mask)
        else:
            decay = self.add_decayed_weights(weight_decay, "adam", mask=mask)
        return optax.chain(
            self.scale_gradients_for_eps(),
            optax.scale_by_adam(b1=b1, b2=b2, eps=eps),
            decay,
            self.scale_updates("adam"),
            optax.scale_by_learning_rate(learning_rate),
        )


def _scale_by_tree(factors: Any):
    with checks.needs("mup.Parametrization's optax transformations", "optax"):
        import optax

    def init_fn(params):
        del params
        return optax.EmptyState()

    def update_fn(updates, state, params=None):
        del params
        updates = jax.tree.map(lambda u, c: u * jnp.asarray(c, u.dtype), updates, factors)
        return updates, state

    return optax.GradientTransformation(init_fn, update_fn)


def _add_decayed_weights(rates: Any, mask: Any):
    with checks.needs("Parametrization.add_decayed_weights", "optax"):
        import optax

    def init_fn(params):
        del params
        return optax.EmptyState()

    def update_fn(updates, state, params=None):
        if params is None:
            raise ValueError("Parametrization.add_decayed_weights: the update needs `params`.")
        keep = mask(params) if callable(mask) else mask
        leaf_rates = rates if keep is None else jax.tree.map(lambda r, k: r * k, rates, keep)
        updates = jax.tree.map(
            lambda u, p, r: u + jnp.asarray(r, u.dtype) * p, updates, params, leaf_rates
        )
        return updates, state

    return optax.GradientTransformation(init_fn, update_fn)
