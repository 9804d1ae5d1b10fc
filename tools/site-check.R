# Checks the pkgdown site in site/: every local link and image resolves, no
# page shows an R error from its examples or articles, and headless Chromium
# renders the home page, the reference index and one function page
# (screenshots in site-check/). Exits non-zero on any failure.
# Usage: Rscript tools/site-check.R [site] [out]
args <- commandArgs(TRUE)
site <- normalizePath(if (length(args) >= 1) args[1] else "site", mustWork = TRUE)
out <- if (length(args) >= 2) args[2] else "site-check"
dir.create(out, showWarnings = FALSE)
pages <- list.files(site, pattern = "\\.html$", recursive = TRUE, full.names = TRUE)
problems <- character(0)
for (page in pages) {
  doc <- xml2::read_html(page)
  refs <- c(xml2::xml_attr(xml2::xml_find_all(doc, "//a[@href]"), "href"),
            xml2::xml_attr(xml2::xml_find_all(doc, "//img[@src]"), "src"),
            xml2::xml_attr(xml2::xml_find_all(doc, "//link[@href]"), "href"),
            xml2::xml_attr(xml2::xml_find_all(doc, "//script[@src]"), "src"))
  local <- refs[!grepl("^([a-z]+:|//|#)", refs) & nzchar(refs)]
  for (ref in unique(local)) {
    target <- sub("[?#].*$", "", utils::URLdecode(ref))
    if (!nzchar(target)) next
    path <- file.path(dirname(page), target)
    if (dir.exists(path)) path <- file.path(path, "index.html")
    if (!file.exists(path))
      problems <- c(problems, sprintf("%s: broken link %s", sub(site, "site", page, fixed = TRUE), ref))
  }
  # an R error in rendered examples or articles (downlit marks it r-err)
  errors <- xml2::xml_find_all(doc, "//*[contains(@class, 'r-err')] | //*[contains(@class, 'error')]")
  text <- xml2::xml_text(errors)
  text <- text[grepl("Error", text)]
  if (length(text))
    problems <- c(problems, sprintf("%s: R error in the page: %s", sub(site, "site", page, fixed = TRUE),
                                    substr(text[1], 1, 200)))
}
chromium <- Sys.which(c("chromium", "chromium-browser", "google-chrome"))
chromium <- chromium[nzchar(chromium)][1]
if (is.na(chromium)) {
  problems <- c(problems, "no Chromium to take the screenshots (install Debian's chromium)")
} else {
  shots <- c(home = "index.html", reference = "reference/index.html",
             function_page = "reference/nn_conv_transpose.html")
  profile <- tempfile("chromium-profile")
  for (name in names(shots)) {
    png <- normalizePath(file.path(out, paste0(name, ".png")), mustWork = FALSE)
    unlink(png)
    # (the flags keep Chromium off the network, which this machine does not have)
    system2(chromium, c("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                        "--no-first-run", "--disable-background-networking",
                        "--disable-component-update", "--disable-sync",
                        paste0("--user-data-dir=", profile), "--hide-scrollbars",
                        "--window-size=1280,1600", paste0("--screenshot=", png),
                        paste0("file://", file.path(site, shots[[name]]))),
            stdout = FALSE, stderr = FALSE)
    if (!file.exists(png) || file.size(png) < 10000)
      problems <- c(problems, sprintf("Chromium did not render %s", shots[[name]]))
  }
  unlink(profile, recursive = TRUE)
}
cat(sprintf("site check: %d pages, %d problems; screenshots in %s/\n", length(pages),
            length(problems), out))
if (length(problems)) {
  writeLines(paste0("  ", problems))
  quit(status = 1)
}
