"""Reports: monthly inspection report per site and system, quarterly maintenance report per
customer, monthly complaint rate; and the complaint register they count."""
