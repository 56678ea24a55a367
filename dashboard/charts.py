"""Server-side SVG charts for the dashboard and the monthly report: no JavaScript, no CDN.

Pure functions that return SVG markup: a bar chart, a weekly trend (grouped bars per ISO week)
and a horizontal funnel. Each chart is an accessible image (role="img", a <title> and a <desc>
that lists every value, referenced by aria-labelledby) and prints its values as text, so the
numbers read without the picture. Labels are escaped; fonts prefer the Chinese system fonts.
"""

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

FONT_FAMILY = "'PingFang SC','Microsoft YaHei','Noto Sans CJK SC','Source Han Sans SC',sans-serif"
FONT_SIZE = 12
TITLE_FONT_SIZE = 14
# A CJK character is about one em wide, a Latin one a little over half: enough to fit labels.
WIDE_CHAR_EM = 1.0
NARROW_CHAR_EM = 0.6
ELLIPSIS = "…"

WIDTH = 640
TITLE_HEIGHT = 28
PLOT_HEIGHT = 180
VALUE_LABEL_HEIGHT = 16
AXIS_LABEL_HEIGHT = 24
LEGEND_HEIGHT = 22
SIDE_MARGIN = 16
BAR_GAP_SHARE = 0.3  # of each slot, left empty between bars
LEGEND_SWATCH = 10
LEGEND_SPACING = 16
FUNNEL_ROW_HEIGHT = 30
FUNNEL_BAR_HEIGHT = 22
FUNNEL_LABEL_WIDTH = 120
FUNNEL_VALUE_WIDTH = 110
MIN_BAR_WIDTH = 2

TEXT_COLOR = "#1f2329"
MUTED_COLOR = "#646a73"
AXIS_COLOR = "#dee0e3"
PALETTE = ("#3370ff", "#ff8800", "#34c724", "#d83931", "#7f3bf5", "#00b2b2")


@dataclass(frozen=True)
class Bar:
    """One bar: its label, its value, and the text shown for it (the value by default)."""

    label: str
    value: float
    shown: str | None = None

    @property
    def text(self) -> str:
        """Return the text printed on the bar."""
        if self.shown is not None:
            return self.shown
        return f"{self.value:g}"


@dataclass(frozen=True)
class Series:
    """One line of a trend: its name and one value per week."""

    name: str
    values: Sequence[float]


def text_width(text: str, size: float = FONT_SIZE) -> float:
    """Return about how wide `text` is at `size` pixels, counting CJK characters as wide."""
    return sum(
        size * (WIDE_CHAR_EM if unicodedata.east_asian_width(ch) in "WF" else NARROW_CHAR_EM)
        for ch in text
    )


def fit(text: str, width: float, size: float = FONT_SIZE) -> str:
    """Return `text`, cut with an ellipsis so that it fits `width` pixels."""
    if text_width(text, size) <= width:
        return text
    kept = text
    while kept and text_width(kept + ELLIPSIS, size) > width:
        kept = kept[:-1]
    return kept + ELLIPSIS


def _text(x: float, y: float, content: str, **attributes: str | float) -> str:
    extra = "".join(
        f' {name.replace("_", "-")}="{escape(str(value))}"' for name, value in attributes.items()
    )
    return f'<text x="{x:.1f}" y="{y:.1f}"{extra}>{escape(content)}</text>'


def _svg(chart_id: str, title: str, description: str, height: float, body: Sequence[str]) -> str:
    """Return the chart's outer element: an accessible image with its title and description."""
    ident = escape(chart_id)
    return "".join(
        [
            f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{WIDTH}" '
            f'height="{height:.0f}" viewBox="0 0 {WIDTH} {height:.0f}" '
            f'aria-labelledby="{ident}-title {ident}-desc" '
            f'font-family="{escape(FONT_FAMILY)}" font-size="{FONT_SIZE}" fill="{TEXT_COLOR}">',
            f'<title id="{ident}-title">{escape(title)}</title>',
            f'<desc id="{ident}-desc">{escape(description)}</desc>',
            _text(
                SIDE_MARGIN, TITLE_HEIGHT - 10, title, font_size=TITLE_FONT_SIZE, font_weight="bold"
            ),  # fmt: skip
            *body,
            "</svg>",
        ]
    )


def _describe(items: Sequence[tuple[str, str]]) -> str:
    return "；".join(f"{label}：{value}" for label, value in items)


def _scale(values: Sequence[float]) -> float:
    """Return pixels per unit so that the largest value fills the plot (1 when all are 0)."""
    top = max((v for v in values if v > 0), default=0)
    return PLOT_HEIGHT / top if top else 1.0


def bar_chart(title: str, bars: Sequence[Bar], *, chart_id: str) -> str:
    """Return a vertical bar chart with each bar's value above it and its label below."""
    plot_top = TITLE_HEIGHT + VALUE_LABEL_HEIGHT
    baseline = plot_top + PLOT_HEIGHT
    height = baseline + AXIS_LABEL_HEIGHT
    slot = (WIDTH - 2 * SIDE_MARGIN) / max(len(bars), 1)
    per_unit = _scale([bar.value for bar in bars])
    body = [
        f'<line x1="{SIDE_MARGIN}" y1="{baseline}" x2="{WIDTH - SIDE_MARGIN}" y2="{baseline}" '
        f'stroke="{AXIS_COLOR}"/>'
    ]
    for index, bar in enumerate(bars):
        left = SIDE_MARGIN + index * slot
        centre = left + slot / 2
        width = slot * (1 - BAR_GAP_SHARE)
        tall = max(bar.value, 0) * per_unit
        body.append(
            f'<rect x="{centre - width / 2:.1f}" y="{baseline - tall:.1f}" width="{width:.1f}" '
            f'height="{tall:.1f}" fill="{PALETTE[0]}"><title>{escape(bar.label)}：'
            f"{escape(bar.text)}</title></rect>"
        )
        body.append(_text(centre, baseline - tall - 4, bar.text, text_anchor="middle"))
        body.append(
            _text(
                centre,
                baseline + AXIS_LABEL_HEIGHT - 8,
                fit(bar.label, slot),
                text_anchor="middle",
                fill=MUTED_COLOR,
            )  # fmt: skip
        )
    description = _describe([(bar.label, bar.text) for bar in bars])
    return _svg(chart_id, title, description, height, body)


def trend_chart(
    title: str, weeks: Sequence[str], series: Sequence[Series], *, chart_id: str
) -> str:
    """Return a weekly trend: per week one bar per series, a legend, and every value printed."""
    plot_top = TITLE_HEIGHT + LEGEND_HEIGHT + VALUE_LABEL_HEIGHT
    baseline = plot_top + PLOT_HEIGHT
    height = baseline + AXIS_LABEL_HEIGHT
    slot = (WIDTH - 2 * SIDE_MARGIN) / max(len(weeks), 1)
    group = slot * (1 - BAR_GAP_SHARE)
    width = group / max(len(series), 1)
    per_unit = _scale([value for line in series for value in line.values])
    body = []
    legend_x = float(SIDE_MARGIN)
    for number, line in enumerate(series):
        color = PALETTE[number % len(PALETTE)]
        legend_y = TITLE_HEIGHT + LEGEND_HEIGHT / 2
        body.append(
            f'<rect x="{legend_x:.1f}" y="{legend_y - LEGEND_SWATCH / 2:.1f}" '
            f'width="{LEGEND_SWATCH}" height="{LEGEND_SWATCH}" fill="{color}"/>'
        )
        body.append(_text(legend_x + LEGEND_SWATCH + 4, legend_y + 4, line.name))
        legend_x += LEGEND_SWATCH + 4 + text_width(line.name) + LEGEND_SPACING
    body.append(
        f'<line x1="{SIDE_MARGIN}" y1="{baseline}" x2="{WIDTH - SIDE_MARGIN}" y2="{baseline}" '
        f'stroke="{AXIS_COLOR}"/>'
    )
    for index, week in enumerate(weeks):
        left = SIDE_MARGIN + index * slot + (slot - group) / 2
        for number, line in enumerate(series):
            value = line.values[index]
            tall = max(value, 0) * per_unit
            x = left + number * width
            body.append(
                f'<rect x="{x:.1f}" y="{baseline - tall:.1f}" width="{width:.1f}" '
                f'height="{tall:.1f}" fill="{PALETTE[number % len(PALETTE)]}">'
                f"<title>{escape(week)} {escape(line.name)}：{value:g}</title></rect>"
            )
            body.append(
                _text(x + width / 2, baseline - tall - 4, f"{value:g}", text_anchor="middle")
            )
        body.append(
            _text(
                SIDE_MARGIN + index * slot + slot / 2,
                baseline + AXIS_LABEL_HEIGHT - 8,
                fit(week, slot),
                text_anchor="middle",
                fill=MUTED_COLOR,
            )  # fmt: skip
        )
    description = _describe(
        [
            (week, "，".join(f"{line.name} {line.values[index]:g}" for line in series))
            for index, week in enumerate(weeks)
        ]
    )
    return _svg(chart_id, title, description, height, body)


def funnel_chart(title: str, steps: Sequence[Bar], *, chart_id: str) -> str:
    """Return a horizontal funnel: one centred bar per step, as wide as its share of the first."""
    height = TITLE_HEIGHT + len(steps) * FUNNEL_ROW_HEIGHT + SIDE_MARGIN
    plot_left = SIDE_MARGIN + FUNNEL_LABEL_WIDTH
    plot_width = WIDTH - plot_left - FUNNEL_VALUE_WIDTH - SIDE_MARGIN
    first = steps[0].value if steps and steps[0].value > 0 else 0
    body = []
    for index, step in enumerate(steps):
        top = TITLE_HEIGHT + index * FUNNEL_ROW_HEIGHT
        middle = top + FUNNEL_ROW_HEIGHT / 2
        share = step.value / first if first else 0.0
        width = max(plot_width * share, MIN_BAR_WIDTH if step.value > 0 else 0)
        left = plot_left + (plot_width - width) / 2
        body.append(
            f'<rect x="{left:.1f}" y="{middle - FUNNEL_BAR_HEIGHT / 2:.1f}" width="{width:.1f}" '
            f'height="{FUNNEL_BAR_HEIGHT}" rx="3" fill="{PALETTE[index % len(PALETTE)]}">'
            f"<title>{escape(step.label)}：{escape(step.text)}</title></rect>"
        )
        body.append(
            _text(
                plot_left - 8,
                middle + 4,
                fit(step.label, FUNNEL_LABEL_WIDTH - 8),
                text_anchor="end",
            )  # fmt: skip
        )
        body.append(_text(plot_left + plot_width + 8, middle + 4, step.text))
    description = _describe([(step.label, step.text) for step in steps])
    return _svg(chart_id, title, description, height, body)
