import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium")


@app.cell
def _():
    import marimo as mo

    from sdesim.demos import adam_one_step, adam_scaling_rules, baseline_curve
    from sdesim.lessons.exercises.adaptive import check
    from sdesim.lessons.view import rows_markdown
    return adam_one_step, adam_scaling_rules, baseline_curve, check, mo, rows_markdown


@app.cell
def _(mo):
    mo.md(r"""
    # 6. Adaptive methods and the square-root rule

    **Adam** keeps running averages of the gradient and of its square,

    $$m_{k+1} = \beta_1 m_k + (1-\beta_1)\,g_k,\qquad v_{k+1} = \beta_2 v_k + (1-\beta_2)\,g_k^2,\qquad
    x_{k+1} = x_k - \eta\,\frac{\hat m_{k+1}}{\sqrt{\hat v_{k+1}} + \epsilon},$$

    and the step no longer scales like $\eta$: the gradient is divided by its own size. Malladi, Lyu,
    Panigrahi and Arora (2022) find its SDE on the time scale $t = k\eta^2$, with the gradient-noise scale
    $\sigma$ ($\propto 1/\sqrt B$) and

    $$\sigma_0 = \sigma\eta,\qquad c_i = \frac{1-\beta_i}{\eta^2},\qquad \epsilon_0 = \epsilon\eta:$$

    $$dm = c_1(\nabla L - m)\,dt + c_1\sigma_0\,\Sigma^{1/2}\,dW,\qquad du = c_2(\operatorname{diag}\Sigma - u)\,dt,
    \qquad dx = -\frac{m/\gamma_1}{\sigma_0\sqrt{u/\gamma_2} + \epsilon_0}\,dt,$$

    with $\gamma_i = 1 - e^{-c_i t}$ (the bias correction). Below, one step of Adam and one Euler step of this
    SDE from the same state: their moments sampled against the exact ones, and the exact gap between the
    two per unit time, which vanishes as Adam's SVAG (step $\eta/l$, $1-\beta \to (1-\beta)/l^2$) refines.
    """)
    return


@app.cell
def _(adam_one_step):
    one_step = adam_one_step(paths=20_000)
    lesson_rows = list(one_step.rows)
    return lesson_rows, one_step


@app.cell
def _(lesson_rows, mo, one_step, rows_markdown):
    mo.vstack([
        one_step.figure,
        mo.md(rows_markdown(lesson_rows, note="20000 samples of each step; exact: the finite sums over the "
                                              "Rademacher noise (Adam) and the Gaussian moments (the SDE's step).")),
    ])
    return


@app.cell
def _(mo):
    mo.md(r"""
    ## The square-root scaling rule

    Grow the batch to $\kappa B$: the noise scale becomes $\sigma/\sqrt\kappa$. To keep $\sigma_0$, $c_1$,
    $c_2$ and $\epsilon_0$ — and with them the SDE and its equilibrium — set

    $$\eta \to \sqrt\kappa\,\eta,\qquad 1-\beta_i \to \kappa\,(1-\beta_i),\qquad \epsilon \to \epsilon/\sqrt\kappa.$$

    The linear rule of SGD ($\eta \to \kappa\eta$) multiplies $\sigma_0$ by $\sqrt\kappa$ and divides $c_i$
    by $\kappa^2$: another SDE, another equilibrium. Adam on the quadratic (batch 1, $\eta = 0.1$,
    $\beta = (0.9, 0.99)$, 1600 steps), and at batch $\kappa$ under each rule for the same number of epochs:
    """)
    return


@app.cell
def _(baseline_curve):
    baseline = baseline_curve(paths=4000)
    return (baseline,)


@app.cell
def _(mo):
    kappa = mo.ui.dropdown(options={str(k): k for k in (2, 4, 8)}, value="4", label="κ (batch 1 → κ)")
    kappa
    return (kappa,)


@app.cell
def _(adam_scaling_rules, baseline, kappa):
    rules = adam_scaling_rules(kappa=kappa.value, paths=4000, baseline=baseline)
    return (rules,)


@app.cell
def _(mo, rows_markdown, rules):
    mo.vstack([
        rules.figure,
        mo.md(rows_markdown(rules.rows, note="4000 paths per run. Adam's equilibrium E L has no closed form: the "
                                             "ratios carry standard errors, no exact value. At finite η the "
                                             "square-root rule keeps it to within the discrete method's own O(η) "
                                             "error; the linear rule moves it by a factor.")),
    ])
    return


@app.cell
def _(mo):
    answer = mo.ui.text(label="Exercise: the batch grows from B to 4B, from η = 0.1 and β₂ = 0.99. Which "
                              "η and β₂ keep Adam's SDE? Type 'η, β₂'.", value="")
    answer
    return (answer,)


@app.cell
def _(answer, check, mo):
    mo.md(check(answer.value, kappa=4, lr=0.1, beta2=0.99).markdown())
    return


if __name__ == "__main__":
    app.run()
