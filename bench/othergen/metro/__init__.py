"""metro: an independent synthetic-city generator for medical-insurance fraud data.

City: 海州市 (Haizhou), a fictional megacity, urban districts only, year 2025.
"""
YEAR = 2025
