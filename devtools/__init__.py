"""Demo set-up, seeding, stress runs and benchmark support, kept out of the product apps."""
