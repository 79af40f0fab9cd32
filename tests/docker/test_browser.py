"""A person's view of Lab 2: real headless Chromium fills the form and reads the answer."""

from __future__ import annotations

import shutil

import pytest

pytestmark = pytest.mark.docker

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Flags for a machine with a closed network: no background calls home.
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.fail("chromium is not installed (apt-get install chromium); .ci/run installs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield browser
        browser.close()


@pytest.mark.parametrize(
    ("measurements", "species"),
    [
        (
            {
                "sepal_length": "5.1",
                "sepal_width": "3.5",
                "petal_length": "1.4",
                "petal_width": "0.2",
            },
            "setosa",
        ),
        (
            {
                "sepal_length": "5.9",
                "sepal_width": "2.8",
                "petal_length": "4.3",
                "petal_width": "1.3",
            },
            "versicolor",
        ),
        (
            {
                "sepal_length": "6.3",
                "sepal_width": "3.3",
                "petal_length": "6.0",
                "petal_width": "2.5",
            },
            "virginica",
        ),
    ],
)
def test_fill_the_form_and_see_the_species_and_its_picture(lab2, browser, measurements, species):
    page = browser.new_page()
    requests_elsewhere = []
    page.on(
        "request",
        lambda req: None if req.url.startswith(lab2.url) else requests_elsewhere.append(req.url),
    )
    try:
        page.goto(lab2.url + "/")
        assert page.title().startswith("Iris classifier")
        assert "version" in page.text_content("#model-version")
        for name, value in measurements.items():
            page.fill(f"#{name}", value)
        page.click("#classify")
        page.wait_for_selector("#result")
        assert page.text_content("#species") == species
        picture = page.locator("#species-picture")
        assert picture.get_attribute("src").endswith(f"/{species}.svg")
        # The page is drawn before its picture arrives: wait until the browser is done
        # with it (loaded or broken), then check it really decoded.
        page.wait_for_function("document.getElementById('species-picture').complete")
        assert page.evaluate("document.getElementById('species-picture').naturalWidth") > 0
        assert page.text_content("#answer-version").startswith("v")
        assert requests_elsewhere == []
    finally:
        page.close()


def test_a_bad_value_is_explained_on_the_page(lab2, browser):
    page = browser.new_page()
    try:
        page.goto(lab2.url + "/")
        # Bypass the browser's own number check to reach the server's.
        page.evaluate("document.getElementById('petal_width').type = 'text'")
        page.fill("#petal_width", "wide")
        page.click("#classify")
        assert "not a number" in page.text_content("#error")
    finally:
        page.close()
