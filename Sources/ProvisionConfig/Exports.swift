// A configuration's errors and sections are the TOML layer's: whoever reads the
// configuration gets them with it.
@_exported import ProvisionTOML
