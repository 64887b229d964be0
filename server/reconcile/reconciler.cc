// Placeholder: implemented by its component's first change.
