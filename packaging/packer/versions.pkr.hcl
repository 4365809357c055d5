# Plugins (Packer >= 1.7 with `packer init`). Kept apart from jfe.pkr.hcl so that old Packers
# without required_plugins (Debian 12 ships 1.6.6) can still check the template's syntax:
#   packer validate -syntax-only jfe.pkr.hcl
packer {
  required_version = ">= 1.7.0"

  required_plugins {
    amazon = {
      source  = "github.com/hashicorp/amazon"
      version = ">= 1.2.0"
    }
  }
}
