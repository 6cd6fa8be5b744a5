import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium")


@app.cell
def _():
    import marimo as mo

    from sdesim.demos import order_verdicts
    from sdesim.lessons.exercises.weak_order import check
    from sdesim.lessons.view import rows_markdown
    return check, mo, order_verdicts, rows_markdown


@app.cell
def _(mo):
    mo.md(r"""
    # 4. Weak error and its order

    SVAG with parameter $l$ takes $l$ steps of $\eta/l$ per unit of $\eta$, with its gradient noise amplified
    so that it matches the SDE's first two moments (Lemma 4.7). How close is it to the SDE? For a test
    function $g$ the **weak error** at time $T$ is

    $$e(l) = \mathbb{E}\,g(x^{l}_{T}) - \mathbb{E}\,g(X_T),$$

    and Theorem 4.3 says $|e(l)| \le C\,l^{-1}$: SVAG is a weak approximation of **order 1**. A convergence
    study measures $e(l)$ for a sweep of $l$ and fits

    $$e(l) = C_1\,l^{-p} + C_2\,l^{-p-1}\;(+\,C_3\,l^{-p-2})$$

    over a range of $l$ fixed before the run. It judges the order $p = 1$ in one of three words:

    - **confirmed**: the interval for $p$ contains 1 and is narrower than the precision asked (here ±0.1);
    - **rejected**: the interval excludes 1, or the errors level off at a floor $e_\infty \neq 0$ (more than
      3 standard errors from 0) — the reference or the scheme is wrong;
    - **inconclusive**: anything else — intervals too wide, too few resolved points, a model that does not
      fit. It asks for more paths or a wider range of $l$; it does not say the order is wrong.

    With noisy errors a correct order is rejected by chance in a few studies in a hundred (the rule's
    false-alarm rate, measured in benchmarks/RESULTS.md); the exact errors have none.

    The problem: the 2-d quadratic with skewed (exponential) noise, $x_0 = (2, 2)$, $\eta = 0.2$, $T = 1$,
    where the SDE is an Ornstein–Uhlenbeck process and the first two moments of SVAG close, so an exact
    moment engine gives $e(l)$ with no Monte Carlo at all.
    """)
    return


@app.cell
def _(mo):
    test = mo.ui.dropdown(options=["norm2", "loss", "x"], value="norm2", label="test function g")
    l_range = mo.ui.dropdown(options={"1 … 16": (1, 2, 4, 8, 16), "2 … 32": (2, 4, 8, 16, 32)},
                             value="1 … 16", label="l values")
    paths = mo.ui.slider(2_000, 20_000, step=2_000, value=10_000, label="Monte Carlo paths per level",
                         show_value=True)
    mo.hstack([test, l_range, paths])
    return l_range, paths, test


@app.cell
def _(l_range, order_verdicts, paths, test):
    demo = order_verdicts(test=test.value, l_values=l_range.value, paths=paths.value, seed=0)
    lesson_rows = [r for r in demo.rows if r.exact is not None]
    return demo, lesson_rows


@app.cell
def _(demo, lesson_rows, mo, paths, rows_markdown):
    mo.vstack([
        demo.figure,
        mo.md(f"**Monte Carlo e(l)** ({paths.value} paths per level, plain Monte Carlo, no control variates) "
              "beside the exact engine's e(l):"),
        mo.md(rows_markdown(lesson_rows, note="z = (measured − exact)/stderr: the Monte Carlo numbers scatter "
                                              "about the exact ones by about one standard error.")),
    ])
    return


@app.cell
def _(demo, mo):
    def _words(key, what):
        study = demo.studies[key]
        return "\n".join(f"- **{what}**, {name}: {fit.verdict}" for name, fit in study.fits.items())

    mo.md("## The three verdicts\n\n"
          + _words("exact", "exact engine") + "\n"
          + _words("monte_carlo", f"Monte Carlo ({demo.studies['monte_carlo'].paths} paths)") + "\n"
          + _words("late", "wrong reference: the SDE one step late, E g(X_{T+η})") + "\n\n"
          "The exact errors halve with each doubling of $l$: confirmed. The Monte Carlo errors are the same "
          "numbers plus noise; with these paths the interval for $p$ is wide: inconclusive — move the slider "
          "and watch it narrow (a confirmation at ±0.1 needs far more paths than a lecture can wait for). "
          "The late reference adds $\\mathbb{E}g(X_T) - \\mathbb{E}g(X_{T+\\eta})$ to every error: a floor that "
          "no $l$ removes, and the rule rejects order 1.")
    return


@app.cell
def _(mo):
    answer = mo.ui.text(label="Exercise: from the table and the picture, what is the weak order p of SVAG in l? "
                              "(checked against the exact study of |x|² over l = 1 … 16)",
                        value="")
    answer
    return (answer,)


@app.cell
def _(answer, check, mo):
    mo.md(check(answer.value).markdown())
    return


if __name__ == "__main__":
    app.run()
