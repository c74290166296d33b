"""What the console's browser tests share: headless Chromium through Debian's chromedriver,
an explicit wait, and a report of what was seen, as one JSON line, on success or failure."""
import json
import sys

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.ui import WebDriverWait


class Driver:
    def __init__(self, width=1280, height=1000):
        options = webdriver.ChromeOptions()
        options.binary_location = "/usr/bin/chromium"
        for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                     "--disable-extensions", "--window-size=%d,%d" % (width, height)):
            options.add_argument(flag)
        self.browser = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
        # A wait's condition may find an element of the page a form is leaving; once the next
        # page replaces it, the element is stale and the condition is asked again.
        self.wait = WebDriverWait(self.browser, 60, ignored_exceptions=(StaleElementReferenceException,))
        self.seen = {}

    def fail(self, message):
        print(json.dumps({"failed": message, "seen": self.seen}))
        self.browser.quit()
        sys.exit(1)

    def succeed(self):
        print(json.dumps({"ok": True, "seen": self.seen}))
        self.browser.quit()
