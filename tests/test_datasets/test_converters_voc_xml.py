"""Tests of the VOC xml reader."""
import pytest
from PIL import Image

from damex_mmdet.datasets.converters import (MissingImageError,
                                             load_voc_image, parse_voc_xml)

XML = """<annotation>
  <folder>gmu_scene_002</folder>
  <filename>rgb_0001.png</filename>
  <size><width>100</width><height>50</height><depth>3</depth></size>
  <object>
    <name> Car </name><difficult>0</difficult>
    <bndbox><xmin>11</xmin><ymin>21</ymin>
            <xmax>50</xmax><ymax>40</ymax></bndbox>
  </object>
  <object>
    <name>pedestrian</name><difficult>1</difficult>
    <bndbox><xmin>1.5</xmin><ymin>2</ymin>
            <xmax>3</xmax><ymax>4.5</ymax></bndbox>
  </object>
</annotation>
"""


def _write(path, text):
    with open(path, 'w', encoding='utf-8') as f:
        f.write(text)
    return str(path)


def test_parse_one_based_boxes(tmp_path):
    width, height, objects = parse_voc_xml(_write(tmp_path / 'a.xml', XML))
    assert (width, height) == (100, 50)
    # 1-based inclusive pixels 11..50 -> continuous [10, 50)
    assert objects[0].bbox == (10., 20., 50., 40.)
    assert objects[0].name == 'Car'  # stripped, case as annotated
    assert not objects[0].difficult
    assert objects[1].bbox == (0.5, 1., 3., 4.5)
    assert objects[1].difficult


def test_parse_zero_based_boxes_unchanged(tmp_path):
    _, _, objects = parse_voc_xml(_write(tmp_path / 'a.xml', XML), 0)
    assert objects[0].bbox == (11., 21., 50., 40.)


def test_parse_missing_size_gives_zero(tmp_path):
    text = XML.replace(
        '<size><width>100</width><height>50</height><depth>3</depth></size>',
        '')
    width, height, _ = parse_voc_xml(_write(tmp_path / 'a.xml', text))
    assert (width, height) == (0, 0)


def test_parse_broken_xml_names_file(tmp_path):
    path = _write(tmp_path / 'broken.xml', XML[:120])
    with pytest.raises(ValueError, match='broken.xml'):
        parse_voc_xml(path)


def test_parse_bad_objects_name_file_and_object(tmp_path):
    no_name = XML.replace('<name>pedestrian</name>', '')
    with pytest.raises(ValueError, match=r'a\.xml \(object 1\).*<name>'):
        parse_voc_xml(_write(tmp_path / 'a.xml', no_name))
    bad_number = XML.replace('<xmax>3</xmax>', '<xmax>three</xmax>')
    with pytest.raises(ValueError, match=r"<xmax> is 'three'"):
        parse_voc_xml(_write(tmp_path / 'b.xml', bad_number))
    with pytest.raises(ValueError, match='coord_base'):
        parse_voc_xml(str(tmp_path / 'b.xml'), coord_base=2)


def test_load_voc_image_file_name_from_id_not_xml(tmp_path):
    """Kitchen: <filename> repeats across scenes; the split id does not."""
    (tmp_path / 'Annotations' / 'gmu_scene_002').mkdir(parents=True)
    (tmp_path / 'JPEGImages' / 'gmu_scene_002').mkdir(parents=True)
    _write(tmp_path / 'Annotations' / 'gmu_scene_002' / 'rgb_0001.xml', XML)
    Image.new('RGB', (100, 50)).save(
        tmp_path / 'JPEGImages' / 'gmu_scene_002' / 'rgb_0001.png')
    record = load_voc_image(
        str(tmp_path), 'gmu_scene_002/rgb_0001', img_ext='.png')
    assert record.file_name == 'JPEGImages/gmu_scene_002/rgb_0001.png'
    assert (record.width, record.height) == (100, 50)
    assert not record.size_from_image
    assert record.source.endswith('rgb_0001.xml')


def test_load_voc_image_missing_files(tmp_path):
    (tmp_path / 'VOC2007' / 'Annotations').mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match='000001.xml'):
        load_voc_image(str(tmp_path), '000001', tree='VOC2007')
    _write(tmp_path / 'VOC2007' / 'Annotations' / '000001.xml', XML)
    with pytest.raises(MissingImageError,
                       match=r'VOC2007/JPEGImages/000001\.jpg'):
        load_voc_image(str(tmp_path), '000001', tree='VOC2007')
