// Every ```swift block of README.md and of the DocC articles (Sources/Cask/Cask.docc) is in this
// target, verbatim, each in a function of its own; `.ci/check-snippets` fails when a block of the
// documentation is missing here, and the build fails when one does not compile. The functions are
// compiled, not run: they write to the fixed paths the documentation shows.
print("cask-examples: the documentation's snippets are compiled into this program; it runs none of them.")
